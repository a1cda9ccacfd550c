"""The review queue (most uncertain first) and reviewer decisions (append-only, idempotent).

Queue: per (tweet, task) the entry of the newest model version in ``review_queue``, without
the ones any reviewer has decided on, ordered by the model's confidence, lowest first (for a
queued binary positive that is the probability of the positive class, for a multi-class task
the probability of the predicted class: either way the least sure prediction comes first);
keyset ``(confidence, tweet_id, task)``.

Decisions: ``review_decisions`` gets one row per decision, never an UPDATE or DELETE. A decision
equal to the reviewer's latest one on the same (tweet, task) is a repeat and writes nothing. The
row id is SHA-256 over reviewer, tweet, task, decision, label and the id of the reviewer's
previous decision there, so two identical requests racing each other compute the same id and
the primary key lets only one in (``ON CONFLICT DO NOTHING``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from crisislake.errors import CrisislakeError
from crisislake.serve.db import Database, ident

DECISIONS = ("confirm", "reject", "relabel")
# Label vocabularies of the classification tasks (crisislake.nlp.tasks); information_type's
# labels are whatever its model emits, so only their shape is checked.
TASK_LABELS: Dict[str, Optional[Tuple[str, ...]]] = {
    "relevance": ("0", "1"),
    "disaster_type": ("earthquake", "flood", "hurricane", "wildfire", "tornado", "explosion", "bombing",
                      "shooting", "transport_accident", "building_collapse", "other"),
    "police_force": ("0", "1"),
    "force_rank": ("0", "1", "2", "3", "4", "5"),
    "information_type": None,
}
QUEUE_CURSOR_TYPES = (float, int, str)


class DecisionRefused(CrisislakeError, ValueError):
    """A well-formed decision that does not apply to this tweet (e.g. nothing to confirm)."""


class UnknownTweet(CrisislakeError, LookupError):
    """The tweet is not in the warehouse."""


@dataclass(frozen=True)
class Decision:
    tweet_id: int
    task: str
    decision: str
    label: Optional[str]
    reviewer: str


def check_label(task: str, label: Optional[str]) -> Optional[str]:
    """A label error message for ``task``, or ``None`` when the label is one of its labels."""
    vocab = TASK_LABELS.get(task)
    if label is not None and vocab is not None and label not in vocab:
        return f"label {label!r} is not a {task} label; expected one of {', '.join(vocab)}"
    return None


def queue_query(schema: str, task: Optional[str], after: Optional[List[Any]], limit: int):
    from psycopg import sql

    where = ["NOT EXISTS (SELECT 1 FROM {q} n WHERE n.tweet_id = q.tweet_id AND n.task = q.task "
             "AND n.model_version > q.model_version)",
             "NOT EXISTS (SELECT 1 FROM {d} d WHERE d.tweet_id = q.tweet_id AND d.task = q.task)"]
    params: Dict[str, Any] = {"limit": int(limit) + 1}
    if task is not None:
        where.append("q.task = %(task)s")
        params["task"] = task
    if after is not None:
        where.append("(COALESCE(q.confidence, 0) > %(c)s OR (COALESCE(q.confidence, 0) = %(c)s AND "
                     "(q.tweet_id > %(t)s OR (q.tweet_id = %(t)s AND q.task > %(k)s))))")
        params.update(c=after[0], t=after[1], k=after[2])
    text = ("SELECT q.tweet_id, q.task, q.label, q.confidence, q.threshold, q.reason, q.model_version, "
            "f.text, f.lang, f.created_at FROM {q} q LEFT JOIN {f} f ON f.tweet_id = q.tweet_id WHERE "
            + " AND ".join(where)
            + " ORDER BY COALESCE(q.confidence, 0), q.tweet_id, q.task LIMIT %(limit)s")
    query = sql.SQL(text).format(q=sql.Identifier(ident(schema), "review_queue"),
                                 d=sql.Identifier(ident(schema), "review_decisions"),
                                 f=sql.Identifier(ident(schema), "fact_tweet"))
    return query, params


def list_queue(db: Database, task: Optional[str], after, limit: int):
    query, params = queue_query(db.schema, task, after, limit)
    rows = db.fetch(query, params)
    more = len(rows) > limit
    rows = rows[:limit]
    last = None
    if more and rows:
        r = rows[-1]
        last = (float(r["confidence"] or 0), r["tweet_id"], r["task"])
    return rows, last


def decision_id(d: Decision, previous: Optional[str]) -> str:
    """Hex SHA-256 over the decision and the reviewer's previous decision id on (tweet, task).

    >>> decision_id(Decision(1, "relevance", "confirm", "1", "alice"), None)[:12]
    'c1b70d8d2ba9'
    """
    parts = (d.reviewer, str(d.tweet_id), d.task, d.decision, d.label or "", previous or "")
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _model_label(conn, schema: str, tweet_id: int, task: str) -> Dict[str, Any]:
    """The model's current label for (tweet, task): the newest queue entry, else fact_tweet's column."""
    from psycopg import sql

    rows = conn.fetch(sql.SQL("SELECT f.{col} AS fact_label, q.label AS queue_label, q.model_version "
                              "FROM {f} f LEFT JOIN {q} q ON q.tweet_id = f.tweet_id AND q.task = %(task)s "
                              "WHERE f.tweet_id = %(tweet)s ORDER BY q.model_version DESC NULLS LAST LIMIT 1").format(
        col=sql.Identifier(ident(task)), f=sql.Identifier(schema, "fact_tweet"),
        q=sql.Identifier(schema, "review_queue")), {"task": task, "tweet": tweet_id})
    if not rows:
        raise UnknownTweet(f"tweet {tweet_id} is not in the warehouse")
    row = rows[0]
    if row["queue_label"] is not None:
        return {"label": row["queue_label"], "model_version": row["model_version"]}
    return {"label": row["fact_label"], "model_version": None}


def _resolve_label(d: Decision, model_label: Optional[str]) -> str:
    if d.decision == "relabel":
        return d.label  # validated by the HTTP layer: present and one of the task's labels
    if model_label is None:
        raise DecisionRefused(f"tweet {d.tweet_id} has no {d.task} label to {d.decision}; use relabel")
    if d.label is not None and d.label != model_label:
        raise DecisionRefused(f"{d.decision} applies to the model's label {model_label!r}, not {d.label!r}; "
                              "use relabel to give another label")
    return model_label


def record_decision(db: Database, d: Decision) -> Tuple[Dict[str, Any], bool]:
    """Append ``d`` unless it repeats the reviewer's latest decision; ``(row, created)``."""
    from psycopg import sql

    schema = db.schema
    decisions = sql.Identifier(schema, "review_decisions")
    cols = "decision_id, tweet_id, task, decision, label, model_label, model_version, reviewer, decided_at"
    with db.transaction() as conn:
        model = _model_label(conn, schema, d.tweet_id, d.task)
        label = _resolve_label(d, model["label"])
        latest = conn.fetch(sql.SQL(f"SELECT {cols} FROM {{d}} WHERE tweet_id = %(tweet)s AND task = %(task)s "
                                    "AND reviewer = %(reviewer)s ORDER BY decided_at DESC, decision_id DESC "
                                    "LIMIT 1").format(d=decisions),
                            {"tweet": d.tweet_id, "task": d.task, "reviewer": d.reviewer})
        if latest and latest[0]["decision"] == d.decision and latest[0]["label"] == label:
            return latest[0], False
        resolved = Decision(d.tweet_id, d.task, d.decision, label, d.reviewer)
        new_id = decision_id(resolved, latest[0]["decision_id"] if latest else None)
        inserted = conn.fetch(sql.SQL(
            f"INSERT INTO {{d}} ({cols}) VALUES (%(id)s, %(tweet)s, %(task)s, %(decision)s, %(label)s, "
            "%(model_label)s, %(model_version)s, %(reviewer)s, clock_timestamp()) "
            f"ON CONFLICT (decision_id) DO NOTHING RETURNING {cols}").format(d=decisions),
            {"id": new_id, "tweet": d.tweet_id, "task": d.task, "decision": d.decision, "label": label,
             "model_label": model["label"], "model_version": model["model_version"], "reviewer": d.reviewer})
        if inserted:
            return inserted[0], True
        same = conn.fetch(sql.SQL(f"SELECT {cols} FROM {{d}} WHERE decision_id = %(id)s").format(d=decisions),
                          {"id": new_id})
        return same[0], False


def decision_item(row: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "decision_id": row["decision_id"], "tweet_id": str(row["tweet_id"]), "task": row["task"],
        "decision": row["decision"], "label": row["label"], "model_label": row["model_label"],
        "model_version": row["model_version"], "reviewer": row["reviewer"],
        "decided_at": row["decided_at"].isoformat(),
    }


def queue_item(row: Dict[str, Any], pseudonymise) -> Dict[str, Any]:
    return {
        "tweet_id": str(row["tweet_id"]), "task": row["task"], "label": row["label"],
        "confidence": float(row["confidence"]) if row["confidence"] is not None else None,
        "threshold": float(row["threshold"]) if row["threshold"] is not None else None,
        "reason": row["reason"], "model_version": row["model_version"],
        "text": pseudonymise(row.get("text")), "lang": row.get("lang"),
        "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
        "tweet_url": f"https://twitter.com/i/web/status/{row['tweet_id']}",
    }
