"""``subscribe()``: follow a stream's events, resuming with Last-Event-ID by itself."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import weakref
from typing import Dict, Generator, Iterator, Optional

from ._http import (
    CONNECTION_ERRORS,
    TokenSource,
    backoff,
    bearer,
    connection,
    endpoint,
    request_error,
    resolve_token,
    resolve_url,
    retry_after,
    retryable,
    stream_path,
)
from ._sse import SseParser
from .types import Event

__all__ = ["subscribe", "Subscription"]


def subscribe(
    stream: str,
    *,
    url: Optional[str] = None,
    token: Optional[TokenSource] = None,
    last_event_id: Optional[int] = None,
    stop: Optional[threading.Event] = None,
    read_timeout: Optional[float] = 60.0,
    max_retry: float = 30.0,
) -> "Subscription":
    """Follows ``stream`` (``agents/<name>`` or ``workflows/<id>``): an iterator of its events,
    in order, each once, as ``Event(id, event, data)`` with ``data`` decoded from JSON.

    It starts after ``last_event_id``, or without one at the start of the agent's current
    execution (or the workflow run); a stream with no events yet is waited for. After a dropped
    connection, a refused one (the server restarting) or a 429/5xx, it reconnects with
    ``Last-Event-ID`` after the server's ``retry:`` (then backing off, at most ``max_retry``
    seconds, never sooner than a ``Retry-After``), for as long as it takes. It ends after a
    terminal event (``complete``, ``failed``, ``cancelled``) that ends the response, or when the
    server answers 204: the run is over and there is nothing after ``last_event_id``. When the
    events after ``last_event_id`` were pruned by retention, a ``gap`` event (``id`` ``None``,
    ``data`` ``{"requested", "firstAvailable"}``) comes first.

    A 4xx other than 429 raises ``CortexRequestError``. ``token`` may be a function, called for
    each connection and once more after a 401 before that raises.

    To stop it from another thread: ``close()`` the returned ``Subscription``, or set ``stop``;
    iteration then ends quietly. ``read_timeout``: seconds without a byte after which the
    connection is taken for dead and a new one opened; the server's heartbeat comes every 15 s
    by default, so keep it above the server's ``--heartbeat-ms`` (``None`` waits forever).

    Example::

        for e in subscribe("agents/my-agent"):
            if e.event == "progress":
                print(e.data.get("progress"), e.data.get("message"))
    """
    return Subscription(
        stream,
        url=url,
        token=token,
        last_event_id=last_event_id,
        stop=stop,
        read_timeout=read_timeout,
        max_retry=max_retry,
    )


class Subscription(Iterator[Event]):
    """What ``subscribe()`` returns: an iterator of events, and a context manager that closes
    it. ``last_event_id`` is the id of the last event it yielded (or the one it started after),
    to resume from later."""

    def __init__(
        self,
        stream: str,
        *,
        url: Optional[str],
        token: Optional[TokenSource],
        last_event_id: Optional[int],
        stop: Optional[threading.Event],
        read_timeout: Optional[float],
        max_retry: float,
    ) -> None:
        kind, name = stream_path(stream)
        self.stream = stream
        self.url = endpoint(resolve_url(url), f"/api/streaming/{kind}/{name}/stream")
        self.last_event_id = last_event_id
        self._token = resolve_token(token)
        self._read_timeout = read_timeout
        self._max_retry = max_retry
        self._retry = 1.0
        self._closed = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._events = self._run()
        if stop is not None:
            # It holds the subscription weakly, so that one dropped unfinished is still freed.
            watch = (weakref.ref(self), stop, self._finished)
            threading.Thread(target=_watch, args=watch, daemon=True).start()

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        try:
            self._events.close()
        except ValueError:
            pass  # iterated by another thread right now: it ends at its next step

    def close(self) -> None:
        """Stops the subscription, from any thread: a read in progress ends at once, and the
        iterator ends (quietly) at its next step."""
        self._closed.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _run(self) -> Generator[Event, None, None]:
        failures = 0
        refreshed = False  # a 401 asks a token function for a fresh credential once
        conn: Optional[http.client.HTTPConnection] = None
        res: Optional[http.client.HTTPResponse] = None
        try:
            while not self._closed.is_set():
                ended = False
                after: Optional[float] = None
                try:
                    headers: Dict[str, str] = {
                        **bearer(self._token),
                        "Accept": "text/event-stream",
                        "Cache-Control": "no-cache",
                    }
                    if self.last_event_id is not None:
                        headers["Last-Event-ID"] = str(self.last_event_id)
                    conn, path = connection(self.url, self._read_timeout)
                    conn.connect()
                    with self._lock:
                        if self._closed.is_set():
                            return
                        self._sock = conn.sock
                    conn.request("GET", path, headers=headers)
                    res = conn.getresponse()
                except CONNECTION_ERRORS:
                    pass  # refused or reset: the server may be restarting
                if res is not None and res.status == 204:
                    return
                if res is not None and res.status != 200:
                    try:
                        body = res.read()
                    except CONNECTION_ERRORS:
                        body = b""
                    failure = request_error(res.status, res.reason, body, self.url)
                    if res.status == 401 and callable(self._token) and not refreshed:
                        refreshed = True
                        self._disconnect(conn, res)
                        conn = res = None
                        continue
                    if not retryable(res.status):
                        raise failure
                    after = retry_after(res.getheader("Retry-After"))
                elif res is not None:
                    failures = 0
                    refreshed = False
                    parser = SseParser()
                    try:
                        while True:
                            chunk = res.read1(65536)
                            if not chunk:
                                break
                            messages = parser.feed(chunk)
                            if parser.retry is not None:
                                self._retry = parser.retry / 1000
                            for m in messages:
                                event = Event(_id(m.id), m.event, json.loads(m.data))
                                if event.id is not None:
                                    self.last_event_id = event.id
                                # The response ends right after the run's terminal event; one
                                # from an earlier execution met in a replay does not end it.
                                ended = event.id is not None and event.terminal
                                yield event
                                if self._closed.is_set():
                                    return
                    except CONNECTION_ERRORS:
                        pass  # dropped mid-stream, or no byte for read_timeout: resume below
                self._disconnect(conn, res)
                conn = res = None
                if ended or self._closed.is_set():
                    return
                wait = self._retry if failures == 0 else max(self._retry, backoff(failures))
                wait = max(min(wait, self._max_retry), after or 0.0)
                failures += 1
                if self._closed.wait(wait):
                    return
        finally:
            self._disconnect(conn, res)
            self._finished.set()

    def _disconnect(
        self,
        conn: Optional[http.client.HTTPConnection],
        res: Optional[http.client.HTTPResponse],
    ) -> None:
        with self._lock:
            self._sock = None
        # The response holds the socket too once the connection handed it over.
        if res is not None:
            res.close()
        if conn is not None:
            conn.close()


def _watch(
    ref: "weakref.ReferenceType[Subscription]", stop: threading.Event, finished: threading.Event
) -> None:
    while not finished.is_set():
        if stop.wait(0.1):
            subscription = ref()
            if subscription is not None:
                subscription.close()
            return
        if ref() is None:
            return


def _id(value: Optional[str]) -> Optional[int]:
    return int(value) if value else None
