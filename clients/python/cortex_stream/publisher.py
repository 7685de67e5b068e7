"""``Publisher``: a background sender for chatty agents, and a context manager for a run."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, NamedTuple, Optional, Set

from ._http import resolve_token, resolve_url, stream_path
from .errors import CortexError
from .publish import encode_event, publish_body
from .types import TERMINAL_TYPES, CancelRequest

__all__ = ["Publisher"]

log = logging.getLogger("cortex_stream")

_UNSET: Any = object()


class _Queued(NamedTuple):
    event: str
    text: str  # the event's JSON
    size: int  # its length in bytes, about


class Publisher:
    """Publishes a run's events from a background thread, so that reporting never waits for
    the network.

    ``progress()`` updates are coalesced: at most ``progress_per_second`` (4) reach the server,
    the last value winning. Every other event, ``send()``, is kept, in order, and sent in
    batches (one request at a time, each with its own Idempotency-Key, retried as ``publish()``
    retries: connection failures, 429 and 5xx, for ``retry_for`` seconds). A pending progress
    update is sent before any later event, so the stream's order is the order of the calls.

    Once a request fails for good nothing more is sent, and ``flush()`` and ``close()`` raise
    that first failure (a ``CortexRequestError`` or ``CortexConnectionError``), every time;
    ``failure`` holds it and ``unsent()`` lists what was not acknowledged.

    **Memory is bounded.** At most ``max_queued`` events (10,000) and ``max_queued_bytes`` of
    JSON (4 MiB) wait, besides the request in flight (at most ``max_batch`` events and
    ``max_batch_bytes``) and the one held progress update. Past that, the oldest waiting
    progress update is dropped (counted in ``dropped``); when none is left to drop, ``send()``
    waits for room (for as long as the server is retried), so no other event is ever dropped.
    An event larger than ``max_queued_bytes`` is taken alone; one sent from a callback (on the
    background thread, which cannot wait for room it alone makes) is taken over the bound.

    **As a context manager** it is one run: on leaving the block it publishes ``complete``
    (``{"duration": ms}``, with ``"result"`` when ``result`` was set), or, when the block
    raised, ``failed`` with ``{"message": str(exc), "code": type(exc).__name__, "duration": ms}``
    (``cancelled`` ``{"reason": "KeyboardInterrupt"}`` for Ctrl-C), unless the block already
    sent a terminal event itself; then it closes. The block's exception is raised again; a
    failure of the publisher is then only logged (logger ``cortex_stream``), so as not to hide
    it. Without an exception, close()'s failure is raised.

    ``cancel_requested`` holds the pending cancel request (``POST .../cancel``) from the latest
    answer, else ``None``: a runner should stop and ``send("cancelled", ...)``. Callbacks
    (``on_published(ids)``, ``on_cancel_requested(request)``, ``on_retry(error)``) run on the
    background thread; what they raise is logged.

    Publishers never closed are closed at interpreter exit (``atexit``), so what they hold is
    sent, waiting at most ``retry_for`` for the server.

    Example::

        with Publisher("agents/my-agent") as p:
            for i, path in enumerate(paths):
                p.progress(message=f"Reading {path}", progress=i / len(paths))
            p.result = {"files": len(paths)}
    """

    def __init__(
        self,
        stream: str,
        *,
        url: Optional[str] = None,
        token: Optional[str] = None,
        progress_per_second: float = 4.0,
        max_batch: int = 1000,
        max_batch_bytes: int = 1 << 20,
        max_queued: int = 10_000,
        max_queued_bytes: int = 4 << 20,
        retry_for: float = 30.0,
        timeout: Optional[float] = 30.0,
        on_published: Optional[Callable[[List[int]], None]] = None,
        on_cancel_requested: Optional[Callable[[CancelRequest], None]] = None,
        on_retry: Optional[Callable[[CortexError], None]] = None,
    ) -> None:
        stream_path(stream)  # a bad name fails here, not on the thread
        if progress_per_second <= 0:
            raise ValueError("progress_per_second must be above 0")
        self.stream = stream
        self._url = resolve_url(url)
        self._token = resolve_token(token)
        self._interval = 1.0 / progress_per_second
        self._max_batch = max(1, max_batch)
        self._max_batch_bytes = max_batch_bytes
        self._max_queued = max(1, max_queued)
        self._max_queued_bytes = max_queued_bytes
        self._retry_for = retry_for
        self._timeout = timeout
        self._on_published = on_published
        self._on_cancel_requested = on_cancel_requested
        self._on_retry = on_retry

        self._cond = threading.Condition()
        # The request in flight holds the first `_in_flight` events, which stay here until they
        # are acknowledged, so that unsent() can tell what a failure left behind.
        self._queue: Deque[_Queued] = deque()
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._queued_bytes = 0
        self._progress: Optional[_Queued] = None  # the held, coalesced progress update
        self._last_progress_at = float("-inf")
        self._failure: Optional[BaseException] = None
        self._closed = False
        self._ended = False  # the last event sent was terminal
        self._started = time.monotonic()

        #: Requests sent so far; coalescing shows here.
        self.requests = 0
        #: Progress updates dropped because more than the bound waited.
        self.dropped = 0
        #: The failure of the last attempt of the request in flight, which is being retried.
        self.retrying: Optional[CortexError] = None
        #: The pending cancel request, from the latest answer.
        self.cancel_requested: Optional[CancelRequest] = None
        #: Set it to publish it as ``complete``'s ``result`` when the ``with`` block ends.
        self.result: Any = _UNSET

        self._thread = threading.Thread(
            target=self._run, name=f"cortex-stream publisher {stream}", daemon=True
        )
        self._thread.start()
        with _lock:
            _open.add(self)

    # -- what a runner calls ------------------------------------------------------------------

    def progress(self, data: Optional[Mapping[str, Any]] = None, **fields: Any) -> None:
        """Reports progress, ``{"message", "progress" (0 to 1), "step"}`` and any more fields,
        as a dict or as keywords; updates closer together than the rate allows are merged, the
        last one winning. Never waits."""
        queued = self._encode("progress", {**(data or {}), **fields})
        with self._cond:
            self._check_open()
            self._progress = queued
            self._ended = False
            if time.monotonic() >= self._last_progress_at + self._interval:
                self._take_progress()
            self._cond.notify_all()

    def send(self, event: str, data: Optional[Mapping[str, Any]] = None, **fields: Any) -> None:
        """Queues any other event (a step, a custom one, a terminal one), or a ``progress``
        that must not be merged, after everything queued before it. Never dropped: when the
        bound is reached it waits for room."""
        queued = self._encode(event, {**(data or {}), **fields})
        with self._cond:
            self._check_open()
            if threading.current_thread() is self._thread:
                # From a callback: the thread that makes room cannot wait for it.
                self._take_progress(force=True)
                self._append(queued)
                self._ended = event in TERMINAL_TYPES
                return
            while self._progress is not None and not self._take_progress():
                if self._failure is not None:
                    self._progress = None
                    self.dropped += 1
                    break
                self._cond.wait()
                self._check_open()
            while not self._make_room(queued):
                if self._failure is not None:
                    # Nothing will be sent any more; unsent() keeps what fits in the bound.
                    self.dropped += 1
                    return
                self._cond.wait()
                self._check_open()
            self._append(queued)
            self._ended = event in TERMINAL_TYPES
            self._cond.notify_all()

    def flush(self, timeout: Optional[float] = None) -> None:
        """Returns once everything queued so far has been acknowledged. Raises the first
        failure once a request has failed for good, and ``TimeoutError`` when ``timeout``
        seconds passed first. Not from a callback: its thread is the one that sends."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() and close() cannot wait on the thread that sends")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._failure is None:
                if self._progress is not None:
                    self._take_progress()
                if not self._queue and self._progress is None:
                    return
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{self.pending} events not acknowledged in {timeout} s")
                self._cond.wait(left)
            raise self._failure

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, then stops the background thread; raises like ``flush()``. Calling it
        again flushes again (or raises the same failure). When ``timeout`` passes first it
        raises ``TimeoutError`` and leaves what is left to the background thread, which goes
        on sending it (as retried for ``retry_for``) and then stops."""
        flushed = False
        try:
            self.flush(timeout)
            flushed = True
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            with _lock:
                _open.discard(self)
            if flushed or self._failure is not None:
                self._thread.join()

    def __enter__(self) -> "Publisher":
        self._started = time.monotonic()
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        try:
            try:
                if not self._ended and not self._closed:
                    self._send_end(exc)
            finally:
                self.close()
        except Exception as error:  # noqa: BLE001 - the block's own exception goes first
            if exc is None:
                raise
            log.warning(
                "cortex-stream: %s: could not publish the end of the run: %s", self.stream, error
            )

    # -- what it holds ------------------------------------------------------------------------

    @property
    def failure(self) -> Optional[BaseException]:
        """The failure that stopped the publisher, or ``None``."""
        return self._failure

    @property
    def pending(self) -> int:
        """How many events are not acknowledged yet (those ``unsent()`` lists)."""
        with self._cond:
            return len(self._queue) + (0 if self._progress is None else 1)

    def unsent(self) -> List[Dict[str, Any]]:
        """The events not acknowledged yet, oldest first: held, waiting, or in flight."""
        with self._cond:
            events = [json.loads(q.text) for q in self._queue]
            if self._progress is not None:
                events.append(json.loads(self._progress.text))
        return events

    # -- inside -------------------------------------------------------------------------------

    def _encode(self, event: str, data: Dict[str, Any]) -> _Queued:
        text = encode_event({"event": event, "data": data})
        return _Queued(event, text, len(text.encode("utf-8")))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the publisher of {self.stream} is closed")

    def _send_end(self, exc: Optional[BaseException]) -> None:
        duration = round((time.monotonic() - self._started) * 1000)
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            data: Dict[str, Any] = {"duration": duration}
            if self.result is not _UNSET:
                data["result"] = self.result
            self.send("complete", data)
        elif isinstance(exc, KeyboardInterrupt):
            self.send("cancelled", {"reason": "KeyboardInterrupt"})
        else:
            if isinstance(exc, SystemExit):
                message = f"exited with {exc.code}"
            else:
                message = str(exc) or type(exc).__name__
            self.send(
                "failed", {"message": message, "code": type(exc).__name__, "duration": duration}
            )

    def _waiting(self) -> int:
        return len(self._queue) - self._in_flight

    def _make_room(self, queued: _Queued) -> bool:
        """Whether ``queued`` may join the queue, after dropping the oldest waiting progress
        updates if that makes room. An event joins an empty queue whatever its size."""
        while (
            self._waiting() + 1 > self._max_queued
            or self._queued_bytes - self._in_flight_bytes + queued.size > self._max_queued_bytes
        ):
            if not self._drop_oldest_progress():
                return self._waiting() == 0
        return True

    def _drop_oldest_progress(self) -> bool:
        for at in range(self._in_flight, len(self._queue)):
            if self._queue[at].event == "progress":
                self._queued_bytes -= self._queue[at].size
                del self._queue[at]
                self.dropped += 1
                return True
        return False

    def _append(self, queued: _Queued) -> None:
        self._queue.append(queued)
        self._queued_bytes += queued.size

    def _take_progress(self, force: bool = False) -> bool:
        """Moves the held progress update to the queue, if there is room for it (or anyway)."""
        held = self._progress
        if held is None:
            return True
        if not self._make_room(held) and not force:
            return False
        self._append(held)
        self._progress = None
        self._last_progress_at = time.monotonic()
        self._cond.notify_all()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = self._last_progress_at + self._interval
                    if self._progress is not None and now >= due:
                        self._take_progress()
                    if self._failure is None and self._queue:
                        break
                    if self._closed and (self._failure is not None or self._progress is None):
                        return
                    wait = None
                    # Held and not taken: not due yet (no room means a queue, sent above).
                    if self._progress is not None and self._failure is None:
                        wait = max(due - now, 0.001)
                    self._cond.wait(wait)
                batch = self._next_batch()
                self.requests += 1
            try:
                answer = publish_body(
                    self.stream,
                    ("[" + ",".join(q.text for q in batch) + "]").encode("utf-8"),
                    url=self._url,
                    token=self._token,
                    idempotency_key=None,
                    retry_for=self._retry_for,
                    timeout=self._timeout,
                    on_retry=self._retried,
                )
            except Exception as error:  # noqa: BLE001 - whatever stops it is what flush() raises
                with self._cond:
                    self._in_flight = self._in_flight_bytes = 0
                    self._failure = error
                    self._cond.notify_all()
                continue
            with self._cond:
                for _ in range(len(batch)):
                    self._queue.popleft()
                self._queued_bytes -= self._in_flight_bytes
                self._in_flight = self._in_flight_bytes = 0
                self.retrying = None
                self.cancel_requested = answer.cancel_requested
                self._cond.notify_all()
            self._call(self._on_published, answer.ids)
            if answer.cancel_requested is not None:
                self._call(self._on_cancel_requested, answer.cancel_requested)

    def _next_batch(self) -> List[_Queued]:
        size = self._queue[0].size
        n = 1
        while (
            n < len(self._queue)
            and n < self._max_batch
            and size + self._queue[n].size <= self._max_batch_bytes
        ):
            size += self._queue[n].size
            n += 1
        self._in_flight = n
        self._in_flight_bytes = size
        return [self._queue[i] for i in range(n)]

    def _retried(self, error: CortexError) -> None:
        self.retrying = error
        self._call(self._on_retry, error)

    def _call(self, callback: Optional[Callable[[Any], None]], arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:  # noqa: BLE001 - a bug in a callback must not stop the publisher
            log.exception("cortex-stream: a callback of the publisher of %s raised", self.stream)


# Publishers never closed send what they hold before the interpreter exits.
_lock = threading.Lock()
_open: Set[Publisher] = set()


@atexit.register
def _close_open_publishers() -> None:
    with _lock:
        publishers = list(_open)
    for publisher in publishers:
        try:
            publisher.close()
        except Exception as error:  # noqa: BLE001
            log.warning("cortex-stream: %s: events not sent at exit: %s", publisher.stream, error)
