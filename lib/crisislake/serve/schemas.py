"""Request and response shapes (pydantic): what ``/openapi.json`` and ``docs/api.md`` describe."""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

TASK_PATTERN = r"^(relevance|disaster_type|police_force|force_rank|information_type)$"
LABEL_PATTERN = r"^[A-Za-z0-9_ .-]{1,32}$"


class ReviewRequest(BaseModel):
    """``POST /review/{tweet_id}`` body. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "reject", "relabel"]
    task: str = Field(pattern=TASK_PATTERN, description="the classification task the decision is about")
    label: Optional[str] = Field(
        default=None, pattern=LABEL_PATTERN,
        description="relabel: the correct label (required). confirm/reject: optional; when given it "
                    "must be the model's current label")


class Incident(BaseModel):
    incident_id: str
    first_seen: str
    last_seen: str
    date_key: int
    n_reports: int
    representative_text: Optional[str] = Field(description="handles pseudonymised")
    place: Optional[str]
    latitude: Optional[float]
    longitude: Optional[float]
    country_iso3: Optional[str]
    admin1_name: Optional[str]
    admin1_pcode: Optional[str]
    admin2_name: Optional[str]
    admin2_pcode: Optional[str]
    place_confidence: Optional[float]
    incident_type: Optional[str]
    force_rank: Optional[int]
    labels: List[str]
    corroborated: bool
    corroboration_score: Optional[float]
    acled_event_ids: List[str]
    reported_incident_ids: List[str]
    run_id: str


class IncidentPage(BaseModel):
    items: List[Incident]
    next: Optional[str] = Field(description="cursor of the next page; null on the last page")


class TaskLabel(BaseModel):
    label: str
    confidence: Optional[float]


class Evidence(BaseModel):
    tweet_id: str = Field(description="decimal string: 64-bit ids do not fit a JavaScript number")
    tweet_url: str
    author_pseudonym: Optional[str]
    created_at: Optional[str]
    is_canonical: bool
    text: Optional[str] = Field(description="handles pseudonymised")
    lang: Optional[str]
    needs_review: Optional[bool]
    labels: Dict[str, TaskLabel]


class Corroboration(BaseModel):
    source: str
    source_id: str
    score: float
    event_date: Optional[str]
    description: Optional[str]
    url: Optional[str]


class IncidentDetail(Incident):
    evidence: List[Evidence]
    evidence_total: int
    corroboration: List[Corroboration]


class MartPage(BaseModel):
    mart: str
    items: List[Dict[str, Any]]
    next: Optional[str]


class MartInfo(BaseModel):
    name: str
    period: str
    grain: List[str]
    filters: List[str]


class QueueItem(BaseModel):
    tweet_id: str
    task: str
    label: Optional[str]
    confidence: Optional[float]
    threshold: Optional[float]
    reason: Optional[str]
    model_version: str
    text: Optional[str]
    lang: Optional[str]
    created_at: Optional[str]
    tweet_url: str


class QueuePage(BaseModel):
    items: List[QueueItem]
    next: Optional[str]


class DecisionOut(BaseModel):
    decision_id: str
    tweet_id: str
    task: str
    decision: str
    label: Optional[str]
    model_label: Optional[str]
    model_version: Optional[str]
    reviewer: str
    decided_at: str


class Health(BaseModel):
    status: str
    warehouse: str
    schema_name: str
    last_load_run_id: Optional[str]
    last_load_finished_at: Optional[str]
    writes_enabled: bool


class Problem(BaseModel):
    detail: Any
