"""The two ways a call can fail, as the TypeScript SDK has them."""

from __future__ import annotations

from http.client import RemoteDisconnected
from typing import Optional

__all__ = ["CortexError", "CortexRequestError", "CortexConnectionError"]


class CortexError(Exception):
    """The base of every error this package raises about the server."""


class CortexRequestError(CortexError):
    """A request the server refused, with the contract's error body.

    ``status`` is 400-499, or a 429 or 5xx that was still the answer when ``publish()`` ran out
    of time to retry. ``code`` is the body's ``error.code`` (``invalid_event``, ``stream_ended``,
    ...; ``http_<status>`` when the body had none), ``message`` its text for people, ``field``
    the JSON Pointer into the request body (``/data/progress``) or the query parameter at fault
    when one thing was, and ``url`` the request's URL.

    Example::

        try:
            publish("workflows/wf-1", {"event": "step_start", "data": {}})
        except CortexRequestError as e:
            if e.status == 400:
                print(e.code, e.field)  # invalid_event /data/stepId
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: Optional[str] = None,
        url: Optional[str] = None,
    ) -> None:
        super().__init__(status, code, message, field, url)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.url = url

    def __str__(self) -> str:
        at = f" at {self.field}" if self.field else ""
        return f"{self.message} ({self.status} {self.code}{at})"


class CortexConnectionError(CortexError):
    """The server could not be reached (connection refused or reset, a timeout, DNS...) for as
    long as the call was allowed to retry. ``url`` is the request's URL and ``cause`` the last
    error (also set as ``__cause__``).

    Example::

        try:
            publish("agents/a", {"event": "complete"}, retry_for=5)
        except CortexConnectionError as e:
            print(f"is the server at {e.url} up? ({e.cause})")
    """

    def __init__(self, url: str, cause: BaseException, message: Optional[str] = None) -> None:
        super().__init__(message or f"could not reach {url}: {describe(cause)}")
        self.url = url
        self.cause = cause
        self.__cause__ = cause


def describe(error: BaseException) -> str:
    """A short reason for a socket error: ``connection refused``, ``timed out``..."""
    if isinstance(error, RemoteDisconnected):
        return "the connection closed before an answer"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    text = str(error)
    return text or type(error).__name__
