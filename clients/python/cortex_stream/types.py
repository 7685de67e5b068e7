"""The wire's vocabulary: each standard event's data, as ``TypedDict``s, and the event types.

The server validates the standard types (``docs/api.md``, "Event types"): a field that is
present has its type. More fields are allowed and kept. Any other type name matching
``^[a-z][a-z0-9_]{0,63}$`` is a custom event whose data is any JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Literal, Optional, TypedDict

__all__ = [
    "StandardEventType",
    "TERMINAL_TYPES",
    "OutgoingEvent",
    "ProgressData",
    "CompleteData",
    "FailedData",
    "CancelledData",
    "StepStartData",
    "StepProgressData",
    "StepCompleteData",
    "StepFailedData",
    "CancelRequestedData",
    "GapData",
    "Event",
    "CancelRequest",
    "PublishResult",
]

StandardEventType = Literal[
    "progress",
    "complete",
    "failed",
    "cancelled",
    "step_start",
    "step_progress",
    "step_complete",
    "step_failed",
]

#: The types that end an agent's execution or a workflow run.
TERMINAL_TYPES: FrozenSet[str] = frozenset({"complete", "failed", "cancelled"})


class _OutgoingEventRequired(TypedDict):
    event: str


class OutgoingEvent(_OutgoingEventRequired, total=False):
    """An event to publish: ``{"event": "progress", "data": {"progress": 0.2}}``; ``data``
    defaults to ``{}``. The server assigns ids: an ``id`` key is a 400."""

    data: Dict[str, Any]


class ProgressData(TypedDict, total=False):
    """``progress``: how far an agent execution is; ``progress`` is a fraction from 0 to 1."""

    step: str
    message: str
    progress: float


class CompleteData(TypedDict, total=False):
    """``complete``: the execution or run ended well; ``duration`` in milliseconds."""

    result: Any
    duration: float


class _FailedRequired(TypedDict):
    message: str


class FailedData(_FailedRequired, total=False):
    """``failed``: the execution or run ended with an error."""

    code: str


class CancelledData(TypedDict, total=False):
    """``cancelled``: the runner stopped, usually after a ``cancel_requested``."""

    reason: str


class _StepRequired(TypedDict):
    stepId: str


class StepStartData(_StepRequired, total=False):
    name: str
    agent: str


class StepProgressData(_StepRequired, total=False):
    progress: float
    message: str


class StepCompleteData(_StepRequired, total=False):
    result: Any
    duration: float


class StepFailedData(_StepRequired):
    message: str


class CancelRequestedData(TypedDict, total=False):
    """``cancel_requested``, appended by the server when someone asks the run to stop."""

    reason: str


class GapData(TypedDict):
    """``gap``: the events from ``requested`` to ``firstAvailable - 1`` were pruned."""

    requested: int
    firstAvailable: int


@dataclass(frozen=True)
class Event:
    """An event received from a stream.

    ``id`` is the server's (1, 2, 3... within the stream), or ``None`` for a ``gap``, which the
    server sends without one when the events after your ``Last-Event-ID`` were pruned. ``data``
    is the decoded JSON object.
    """

    id: Optional[int]
    event: str
    data: Dict[str, Any]

    @property
    def terminal(self) -> bool:
        """Whether this is ``complete``, ``failed`` or ``cancelled``."""
        return self.event in TERMINAL_TYPES


@dataclass(frozen=True)
class CancelRequest:
    """Someone asked the execution or run to stop (``POST .../cancel``): the id of the
    ``cancel_requested`` event, and its reason when one was given."""

    id: int
    reason: Optional[str] = None


@dataclass(frozen=True)
class PublishResult:
    """What ``publish()`` returns once the events are durable.

    ``ids``: the events' ids, in order. ``cancel_requested``: the pending cancel request, from
    the answer's ``cancelRequested``, while someone has asked the execution or run to stop and
    it has not ended: the runner should then stop and publish ``cancelled``. ``replayed``: the
    server answered from an earlier request with the same Idempotency-Key (``Idempotent-Replayed:
    true``), so nothing was appended. ``raw``: the answer's JSON as it came.
    """

    ids: List[int]
    cancel_requested: Optional[CancelRequest] = None
    replayed: bool = False
    raw: Optional[Dict[str, Any]] = None
