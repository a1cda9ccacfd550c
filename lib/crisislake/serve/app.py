"""The FastAPI application: routes, validation, auth, errors. ``create_app(settings)`` builds it.

Every query value is typed and bounded here before it reaches :mod:`crisislake.serve.db`
(dates parse as dates, numbers have ranges, strings have patterns and lengths); anything else is
a 422 and no SQL runs. Reads use the read-only pool; ``POST /review`` the reviewer pool.
"""
from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Dict, List, Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as _StarletteJSON
from pydantic import BaseModel, ConfigDict, Field

from crisislake.pseudonym import pseudonymise_text
from crisislake.serve import cursor as cur
from crisislake.serve import incidents as inc
from crisislake.serve import marts as mt
from crisislake.serve import review as rv
from crisislake.serve.auth import parse_tokens, reviewer_for
from crisislake.serve.db import Database, WarehouseUnavailable
from crisislake.serve.schemas import (
    DecisionOut,
    Health,
    IncidentDetail,
    IncidentPage,
    MartInfo,
    MartPage,
    Problem,
    QueuePage,
    ReviewRequest,
)

log = logging.getLogger(__name__)


class JSONResponse(_StarletteJSON):
    """JSON rendered by orjson (several times faster than json.dumps for a page of incidents)."""

    def render(self, content) -> bytes:
        import orjson

        return orjson.dumps(content)


ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
NAME_PATTERN = r"^[\w .,'()/-]+$"  # place names: letters of any script, no ; " \ or controls
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MAX_TWEET_ID = 2 ** 63 - 1
MAX_PAGE_SIZE = 1000  # hard cap; serve.max_page_size (default 200) is the configured bound
ERRORS = {422: {"model": Problem, "description": "a parameter or the body is invalid"},
          503: {"model": Problem, "description": "the warehouse is unavailable"}}


@dataclass
class AppSettings:
    read_url: str
    write_url: str = ""
    schema: str = "crisislake"
    api_tokens: str = ""
    cors_origins: List[str] = field(default_factory=list)
    max_page_size: int = 200
    pool_size: int = 8
    statement_timeout_ms: int = 5000
    marts_root: str = "./lake/marts"
    s3_endpoint: str = ""
    pseudonym_key: Optional[bytes] = None


class IncidentQuery(BaseModel):
    """``GET /incidents`` parameters, validated in one pass; unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")

    since: Optional[datetime] = Field(None, description="first_seen >= since (ISO 8601; UTC if no offset)")
    until: Optional[datetime] = Field(None, description="first_seen < until")
    country: Optional[str] = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3")
    admin: Optional[str] = Field(None, pattern=NAME_PATTERN, max_length=256,
                                 description="admin-1 or admin-2 name (exact)")
    pcode: Optional[str] = Field(None, pattern=CODE_PATTERN, description="admin-1 or admin-2 P-code")
    bbox: Optional[str] = Field(None, max_length=100, description="min_lon,min_lat,max_lon,max_lat")
    min_force_rank: Optional[int] = Field(None, ge=0, le=5)
    min_reports: Optional[int] = Field(None, ge=1, le=1_000_000_000)
    corroborated: Optional[bool] = None
    incident_type: Optional[str] = Field(None, pattern=r"^[a-z0-9_]{1,64}$")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE, description="page size (at most serve.max_page_size)")
    cursor: Optional[str] = Field(None, max_length=cur.MAX_CURSOR_CHARS)


def _utc(value: Optional[datetime]) -> Optional[datetime]:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _bbox(text: Optional[str]):
    """``min_lon,min_lat,max_lon,max_lat`` in degrees, or a 422."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [Decimal(p.strip()) for p in parts]
        if len(values) != 4 or not all(v.is_finite() for v in values):
            raise InvalidOperation
    except InvalidOperation:
        raise HTTPException(422, "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat") from None
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise HTTPException(422, "bbox out of range: need -180 <= min_lon <= max_lon <= 180 and "
                                 "-90 <= min_lat <= max_lat <= 90")
    return tuple(float(v) for v in values)


def _page_size(limit: int, bound: int) -> None:
    if limit > bound:
        raise HTTPException(422, f"limit must be at most {bound}")


def _decode(token: Optional[str], filters: Dict, types) -> Optional[list]:
    try:
        return cur.decode(token, filters, types)
    except cur.CursorError as exc:
        raise HTTPException(422, f"cursor: {exc}") from None


def create_app(settings: AppSettings, db: Optional[Database] = None) -> FastAPI:
    """The API over ``settings``' warehouse (``db`` is built from it unless given)."""
    db = db or Database(settings.read_url, settings.write_url, settings.schema, settings.pool_size,
                        settings.statement_timeout_ms)
    hashes = parse_tokens(settings.api_tokens)
    if not hashes:
        log.warning("no API tokens configured (CRISISLAKE_SERVE__API_TOKENS): every write will be refused")

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        db.open()
        try:
            yield
        finally:
            db.close()

    app = FastAPI(title="crisislake API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Incidents, marts and the classification review loop of the crisislake "
                              "warehouse. Contract: docs/api.md.")
    app.state.db, app.state.settings = db, settings
    _errors(app)
    _cors(app, settings.cors_origins)
    _docs(app)
    _read_routes(app, db, settings)
    _mart_routes(app, settings)
    _review_routes(app, db, settings, hashes)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(WarehouseUnavailable)
    async def unavailable(_request: Request, exc: WarehouseUnavailable):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        # FastAPI's own handler echoes the input; a body such as ``Infinity`` or ``NaN`` is valid
        # to Python's JSON parser but not to its encoder, and the 422 became a 500.
        return JSONResponse({"detail": _json_safe(exc.errors())}, status_code=422)


def _json_safe(value):
    """``value`` with anything the response encoder cannot carry (non-finite floats, integers
    beyond 64 bits, exceptions, bytes) as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def _cors(app: FastAPI, origins: List[str]) -> None:
    """CORS is closed unless origins are configured: no ``Access-Control-*`` header is ever sent."""
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False)


def _docs(app: FastAPI) -> None:
    """Swagger UI from the ``swagger-ui-bundle-v2`` package: /docs works with no network."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static/swagger", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="crisislake API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png",
                                   # no badge image from validator.swagger.io
                                   swagger_ui_parameters={"validatorUrl": None})


def _read_routes(app: FastAPI, db: Database, settings: AppSettings) -> None:
    def hide(text):
        return pseudonymise_text(text, settings.pseudonym_key)

    @app.get("/health", response_model=Health, responses={503: ERRORS[503]})
    def health():
        """Liveness and warehouse reachability, with the last load's run id."""
        from psycopg import sql

        rows = db.fetch(sql.SQL("SELECT run_id, finished_at FROM {t} ORDER BY finished_at DESC LIMIT 1").format(
            t=db.table("load_audit")))
        last = rows[0] if rows else {"run_id": None, "finished_at": None}
        return JSONResponse({"status": "ok", "warehouse": "ok", "schema_name": db.schema,
                             "last_load_run_id": last["run_id"],
                             "last_load_finished_at": last["finished_at"].isoformat() if last["finished_at"] else None,
                             "writes_enabled": db.can_write})

    @app.get("/incidents", response_model=IncidentPage, responses=ERRORS)
    def list_incidents(q: Annotated[IncidentQuery, Query()]):
        """Incidents newest first (``first_seen`` desc), filtered, one keyset page at a time."""
        _page_size(q.limit, settings.max_page_size)
        filters = inc.IncidentFilters(_utc(q.since), _utc(q.until), q.country, q.admin, q.pcode, _bbox(q.bbox),
                                      q.min_force_rank, q.min_reports, q.corroborated, q.incident_type)
        after = _decode(q.cursor, filters.as_dict(), inc.CURSOR_TYPES)
        rows, last = inc.list_incidents(db, filters, after, q.limit)
        return JSONResponse({"items": [inc.incident_item(r, hide) for r in rows],
                             "next": cur.encode(last, filters.as_dict()) if last else None})

    @app.get("/incidents/{incident_id}", response_model=IncidentDetail,
             responses={**ERRORS, 404: {"model": Problem, "description": "no such incident"}})
    def incident(incident_id: str = Path(pattern=ID_PATTERN)):
        """One incident with its evidence tweets (pseudonymised), their labels and corroborating records."""
        found = inc.get_incident(db, incident_id)
        if found is None:
            raise HTTPException(404, f"incident {incident_id} not found")
        out = inc.incident_item(found["incident"], hide)
        out["evidence"] = [inc.evidence_item(r, hide) for r in found["evidence"]]
        out["evidence_total"] = found["evidence_total"]
        out["corroboration"] = [inc.corroboration_item(r) for r in found["corroboration"]]
        return JSONResponse(out)


def _mart_routes(app: FastAPI, settings: AppSettings) -> None:
    reader = mt.MartReader(settings.marts_root, settings.s3_endpoint)

    @app.get("/marts", response_model=List[MartInfo])
    def marts():
        """The marts this API serves, with their period column, grain and filters."""
        return JSONResponse([{"name": s.name, "period": s.period, "grain": list(s.grain), "filters": list(s.filters)}
                             for s in mt.MARTS.values()])

    @app.get("/marts/{name}", response_model=MartPage,
             responses={**ERRORS, 404: {"model": Problem, "description": "unknown or not built yet"}})
    def mart(
        name: str = Path(pattern=r"^[a-z_]{1,64}$"),
        since: Optional[date] = Query(None, description="period >= since"),
        until: Optional[date] = Query(None, description="period < until"),
        country: Optional[str] = Query(None, pattern=NAME_PATTERN, max_length=256),
        admin1: Optional[str] = Query(None, pattern=NAME_PATTERN, max_length=256),
        event_type: Optional[str] = Query(None, pattern=NAME_PATTERN, max_length=256),
        disaster_type: Optional[str] = Query(None, pattern=r"^[a-z_]{1,32}$"),
        limit: int = Query(100, ge=1, le=settings.max_page_size),
        cursor: Optional[str] = Query(None, max_length=cur.MAX_CURSOR_CHARS),
    ):
        """One page of a mart, newest period first; filters apply where the mart has the column."""
        spec = mt.MARTS.get(name)
        if spec is None:
            raise HTTPException(404, f"unknown mart {name}; known: {', '.join(mt.MARTS)}")
        given = {"country": country, "admin1": admin1, "event_type": event_type, "disaster_type": disaster_type}
        bad = [k for k, v in given.items() if v is not None and k not in spec.filters]
        if bad:
            raise HTTPException(422, f"mart {name} has no filter {', '.join(bad)}; it filters on "
                                     f"{', '.join(spec.filters)}")
        equals = {k: v for k, v in given.items() if v is not None}
        filters = {"mart": name, "since": since, "until": until, **equals}
        after = _decode(cursor, filters, (date,) + (str,) * len(spec.grain)) if cursor else None
        try:
            items, last = reader.page(spec, since, until, equals, after, limit)
        except mt.MartNotBuilt as exc:
            raise HTTPException(404, str(exc)) from None
        return JSONResponse({"mart": name, "items": items, "next": cur.encode(last, filters) if last else None})


def _review_routes(app: FastAPI, db: Database, settings: AppSettings, hashes: Dict[str, str]) -> None:
    def hide(text):
        return pseudonymise_text(text, settings.pseudonym_key)

    def reviewer(authorization: Optional[str] = Header(None, description="Bearer <token>")) -> str:
        found = reviewer_for(authorization, hashes)
        if found is None:
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return found

    @app.get("/review-queue", response_model=QueuePage, responses=ERRORS)
    def review_queue(
        task: Optional[str] = Query(None, pattern=r"^[a-z_]{1,32}$"),
        limit: int = Query(50, ge=1, le=settings.max_page_size),
        cursor: Optional[str] = Query(None, max_length=cur.MAX_CURSOR_CHARS),
    ):
        """Predictions awaiting review, least confident first, without those already decided."""
        filters = {"task": task}
        after = _decode(cursor, filters, rv.QUEUE_CURSOR_TYPES)
        if after is not None:
            after[0] = Decimal(str(after[0]))
        rows, last = rv.list_queue(db, task, after, limit)
        return JSONResponse({"items": [rv.queue_item(r, hide) for r in rows],
                             "next": cur.encode(last, filters) if last else None})

    @app.post("/review/{tweet_id}", response_model=DecisionOut, status_code=201, responses={
        **ERRORS, 200: {"model": DecisionOut, "description": "a repeat of the reviewer's latest decision"},
        401: {"model": Problem, "description": "missing or wrong bearer token"},
        404: {"model": Problem, "description": "no such tweet"}})
    def review(body: ReviewRequest, tweet_id: int = Path(ge=1, le=MAX_TWEET_ID),
               who: str = Depends(reviewer)):
        """Record a reviewer's decision (append-only). Repeating the latest decision returns it with 200."""
        if body.decision == "relabel" and body.label is None:
            raise HTTPException(422, "relabel needs a label")
        problem = rv.check_label(body.task, body.label)
        if problem:
            raise HTTPException(422, problem)
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            row, created = rv.record_decision(db, rv.Decision(tweet_id, body.task, body.decision, body.label, who))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise WarehouseUnavailable(f"warehouse unavailable: {type(exc).__name__}") from exc
        except rv.UnknownTweet as exc:
            raise HTTPException(404, str(exc)) from None
        except rv.DecisionRefused as exc:
            raise HTTPException(422, str(exc)) from None
        return JSONResponse(rv.decision_item(row), status_code=201 if created else 200)
