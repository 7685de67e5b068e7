"""A Python client for cortex-stream: publish the progress of agent runs and workflows, and
follow it live. Standard library only; Python 3.9+.

- ``publish(stream, event_or_events)``: durable once it returns; retries connection failures,
  429 and 5xx for 30 s with one Idempotency-Key, so a retry never appends twice.
- ``Publisher(stream)``: progress coalesced, everything else in order, from a background thread;
  ``with Publisher(...) as p:`` publishes ``complete``, or ``failed`` when the block raises.
- ``subscribe(stream)``: an iterator of events that resumes with Last-Event-ID by itself and
  ends after the run's terminal event or a 204.

Settings: ``url`` (default ``CORTEX_URL``, then ``http://127.0.0.1:8787``) and ``token``
(default ``CORTEX_TOKEN``).
"""

from ._http import DEFAULT_URL, __version__
from .errors import CortexConnectionError, CortexError, CortexRequestError
from .publish import publish
from .publisher import Publisher
from .subscribe import Subscription, subscribe
from .types import (
    TERMINAL_TYPES,
    CancelledData,
    CancelRequest,
    CancelRequestedData,
    CompleteData,
    Event,
    FailedData,
    GapData,
    OutgoingEvent,
    ProgressData,
    PublishResult,
    StandardEventType,
    StepCompleteData,
    StepFailedData,
    StepProgressData,
    StepStartData,
)

__all__ = [
    "__version__",
    "DEFAULT_URL",
    "publish",
    "Publisher",
    "subscribe",
    "Subscription",
    "CortexError",
    "CortexRequestError",
    "CortexConnectionError",
    "Event",
    "PublishResult",
    "CancelRequest",
    "TERMINAL_TYPES",
    "StandardEventType",
    "OutgoingEvent",
    "ProgressData",
    "CompleteData",
    "FailedData",
    "CancelledData",
    "CancelRequestedData",
    "GapData",
    "StepStartData",
    "StepProgressData",
    "StepCompleteData",
    "StepFailedData",
]
