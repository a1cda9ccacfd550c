"""The classification tasks: their labels, which one is "positive", the precision target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from crisislake.errors import CrisislakeError

UNKNOWN = "unknown"

DISASTER_TYPES = [
    "earthquake", "flood", "hurricane", "wildfire", "tornado", "explosion", "bombing", "shooting",
    "transport_accident", "building_collapse", "other",
]

# CrisisLexT26's humanitarian information types ("Not labeled" / "Not applicable" ->
# not_humanitarian), in the order the model indexes them.
INFORMATION_TYPES = [
    "affected_individuals", "infrastructure_and_utilities", "donations_and_volunteering",
    "caution_and_advice", "sympathy_and_support", "other_useful_information", "not_humanitarian",
]


@dataclass(frozen=True)
class TaskSpec:
    """One task: its label values (model index order), positive label and precision target.

    ``target_precision`` is what the review threshold is chosen to reach on validation data;
    ``None`` means the task publishes every prediction (no review queue).
    """

    name: str
    labels: List[str]
    positive: Optional[str] = None
    target_precision: Optional[float] = None

    @property
    def binary(self) -> bool:
        return self.positive is not None


TASKS: Dict[str, TaskSpec] = {
    "relevance": TaskSpec("relevance", ["0", "1"], positive="1", target_precision=0.90),
    "disaster_type": TaskSpec("disaster_type", list(DISASTER_TYPES)),
    "police_force": TaskSpec("police_force", ["0", "1"], positive="1", target_precision=0.90),
    "force_rank": TaskSpec("force_rank", ["0", "1", "2", "3", "4", "5"]),
    "information_type": TaskSpec("information_type", list(INFORMATION_TYPES)),
}


class UnknownTaskError(CrisislakeError, ValueError):
    """The task name is not one of :data:`TASKS`."""


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}") from None


def normalise_label(task: TaskSpec, value: object) -> Optional[str]:
    """A gold label as the task spells it, or ``None`` when it is not one of the task's labels.

    Binary tasks accept 1/0, 1.0/0.0, "1"/"0", true/false, yes/no.

    >>> normalise_label(TASKS["relevance"], True), normalise_label(TASKS["relevance"], "0.0")
    ('1', '0')
    >>> normalise_label(TASKS["disaster_type"], " Flood "), normalise_label(TASKS["force_rank"], 3.0)
    ('flood', '3')
    """
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value).strip().lower()
    if task.binary:
        text = {"true": "1", "false": "0", "yes": "1", "no": "0", "1.0": "1",
                "0.0": "0", "positive": "1", "negative": "0"}.get(text, text)
    elif text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text if text in task.labels else None
