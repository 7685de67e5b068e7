"""``publish()``: append events to a stream, durably, retrying what may be retried."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Union

from ._http import (
    CONNECTION_ERRORS,
    TokenSource,
    backoff,
    bearer,
    endpoint,
    request,
    request_error,
    resolve_token,
    resolve_url,
    retry_after,
    retryable,
    stream_path,
)
from .errors import CortexConnectionError, CortexError, describe
from .types import CancelRequest, OutgoingEvent, PublishResult

__all__ = ["publish", "encode_event"]

Events = Union[OutgoingEvent, Mapping[str, Any], Iterable[Mapping[str, Any]]]


def encode_event(event: Mapping[str, Any]) -> str:
    """One event as compact JSON. Raises ``TypeError`` for what JSON cannot hold and
    ``ValueError`` for NaN or infinity, before anything is sent."""
    if not isinstance(event, Mapping):
        raise TypeError(
            f'an event is a dict like {{"event": "progress", "data": {{}}}}, not {event!r}'
        )
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_events(events: Events) -> bytes:
    if isinstance(events, Mapping):
        return encode_event(events).encode("utf-8")
    if isinstance(events, (str, bytes)):
        raise TypeError("publish() takes an event (a dict) or a list of events")
    return ("[" + ",".join(encode_event(e) for e in events) + "]").encode("utf-8")


def publish(
    stream: str,
    events: Events,
    *,
    url: Optional[str] = None,
    token: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    retry_for: float = 30.0,
    timeout: Optional[float] = 30.0,
    on_retry: Optional[Callable[[CortexError], None]] = None,
) -> PublishResult:
    """Appends one event, or a list of up to 1000 appended atomically and in order, to
    ``stream`` (``agents/<name>`` or ``workflows/<id>``), and returns once they are durable.

    A connection failure, a 429 or a 5xx is retried for ``retry_for`` seconds (30 by default,
    enough for a server restart; 0 sends once) with exponential backoff and jitter, never
    sooner than the server's ``Retry-After``. Every attempt carries the same Idempotency-Key
    (``idempotency_key``, or a random one), so a retry never appends twice.

    Raises ``CortexRequestError`` for a 4xx, or for the last 429/5xx when time ran out (at once
    when ``Retry-After`` falls past the deadline); ``CortexConnectionError`` when the server
    could not be reached in that time; ``TypeError`` / ``ValueError`` for events JSON cannot
    encode or a stream name that is not ``agents/...`` or ``workflows/...``.

    ``url`` defaults to ``CORTEX_URL``, then ``http://127.0.0.1:8787``; ``token`` to
    ``CORTEX_TOKEN``. ``timeout``: seconds a connect or a read may take in one attempt.
    ``on_retry`` is called with each failed attempt's error (the last one too) before
    publish() waits or gives up.

    Example::

        result = publish("agents/my-agent", {"event": "progress", "data": {"progress": 0.2}})
        result.ids               # [1]
        result.cancel_requested  # CancelRequest(id=5, reason='...') once someone asked to stop
    """
    return publish_body(
        stream,
        encode_events(events),
        url=url,
        token=token,
        idempotency_key=idempotency_key,
        retry_for=retry_for,
        timeout=timeout,
        on_retry=on_retry,
    )


def publish_body(
    stream: str,
    body: bytes,
    *,
    url: Optional[str],
    token: Optional[TokenSource],
    idempotency_key: Optional[str],
    retry_for: float,
    timeout: Optional[float],
    on_retry: Optional[Callable[[CortexError], None]],
) -> PublishResult:
    kind, name = stream_path(stream)
    target = endpoint(resolve_url(url), f"/api/{kind}/{name}/events")
    headers: Dict[str, str] = {
        **bearer(resolve_token(token)),
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
    }
    started = time.monotonic()
    deadline = started + retry_for
    attempt = 0
    while True:
        failure: CortexError
        after: Optional[float] = None
        try:
            answer = request("POST", target, headers, body, timeout)
        except CONNECTION_ERRORS as error:
            failure = unreachable(target, time.monotonic() - started, error)
        else:
            if answer.status == 201:
                try:
                    return result(json.loads(answer.body.decode("utf-8")), answer.headers)
                except ValueError as error:
                    # An answer cut short: the retry gets the same ids from the Idempotency-Key.
                    failure = unreachable(target, time.monotonic() - started, error)
            else:
                failure = request_error(answer.status, answer.reason, answer.body, target)
                if not retryable(answer.status):
                    raise failure
                after = retry_after(answer.headers.get("Retry-After"))
        if on_retry is not None:
            on_retry(failure)
        left = deadline - time.monotonic()
        # Waiting past the deadline only to give up there helps no one.
        if left <= 0 or (after is not None and after > left):
            raise failure
        time.sleep(min(max(after or 0.0, backoff(attempt)), left))
        attempt += 1


def unreachable(url: str, elapsed: float, error: BaseException) -> CortexConnectionError:
    took = f" after {elapsed:.1f} s" if elapsed >= 0.1 else ""
    return CortexConnectionError(url, error, f"could not reach {url}{took}: {describe(error)}")


def result(body: Any, headers: Any) -> PublishResult:
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
        raise ValueError(f"not a publish answer: {body!r}")
    cancel: Optional[CancelRequest] = None
    raw_cancel = body.get("cancelRequested")
    if isinstance(raw_cancel, dict) and isinstance(raw_cancel.get("id"), int):
        reason = raw_cancel.get("reason")
        cancel = CancelRequest(raw_cancel["id"], reason if isinstance(reason, str) else None)
    return PublishResult(
        ids=list(body["ids"]),
        cancel_requested=cancel,
        replayed=headers.get("Idempotent-Replayed") == "true",
        raw=body,
    )
