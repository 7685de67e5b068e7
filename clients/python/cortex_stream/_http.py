"""Settings, URLs, one HTTP request, and the retry arithmetic shared by publish and subscribe."""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import re
import ssl
from datetime import datetime, timezone
from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union
from urllib.parse import quote, urlsplit

from .errors import CortexRequestError

__version__ = "0.1.0"

#: The server a client talks to when neither ``url`` nor ``CORTEX_URL`` says otherwise.
DEFAULT_URL = "http://127.0.0.1:8787"

USER_AGENT = f"cortex-stream-python/{__version__}"

#: A ``Retry-After`` longer than this many seconds is read as this.
MAX_RETRY_AFTER = 30.0

#: A token, or a function that gives one (called before each connection of a subscription).
TokenSource = Union[str, Callable[[], str]]

# Errors that mean "the request may not have reached the server, or its answer was lost".
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


def resolve_url(url: Optional[str]) -> str:
    """``url``, else ``CORTEX_URL`` (an empty one counts as unset), else ``DEFAULT_URL``;
    ``ValueError`` when it is not an http:// or https:// URL."""
    resolved = url or os.environ.get("CORTEX_URL") or DEFAULT_URL
    parts = urlsplit(resolved)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the server's URL must be http:// or https://, not {resolved!r}")
    return resolved


def resolve_token(token: Optional[TokenSource]) -> Optional[TokenSource]:
    """``token``, else ``CORTEX_TOKEN`` (an empty one counts as unset), else none."""
    if token is not None:
        return token
    return os.environ.get("CORTEX_TOKEN") or None


def bearer(token: Optional[TokenSource]) -> Dict[str, str]:
    value = token() if callable(token) else token
    return {"Authorization": f"Bearer {value}"} if value else {}


def stream_path(stream: str) -> Tuple[str, str]:
    """``agents/<name>`` or ``workflows/<id>`` to its kind and its name, percent-encoded once."""
    kind, slash, name = stream.partition("/")
    if kind not in ("agents", "workflows") or not slash or not name:
        raise ValueError(f'a stream is "agents/<name>" or "workflows/<id>", not {stream!r}')
    return kind, quote(name, safe="")


def endpoint(url: str, path: str) -> str:
    return url.rstrip("/") + path


def connection(url: str, timeout: Optional[float]) -> Tuple[http.client.HTTPConnection, str]:
    """An unopened connection to ``url``'s host and the path (with the query) to request."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ValueError(f"the server's URL must be http:// or https://, not {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    return conn, path


class Answer(NamedTuple):
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


def request(
    method: str,
    url: str,
    headers: Dict[str, str],
    body: Optional[bytes] = None,
    timeout: Optional[float] = None,
) -> Answer:
    """Sends one request on a connection of its own and reads the whole answer. Raises one of
    ``CONNECTION_ERRORS`` when the server cannot be reached or the answer is cut off."""
    conn, path = connection(url, timeout)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        res = conn.getresponse()
        return Answer(res.status, res.reason, res.headers, res.read())
    finally:
        conn.close()


def request_error(status: int, reason: str, body: bytes, url: str) -> CortexRequestError:
    """The contract's error body, ``{"error": {"code", "message", "field"}}``, as an exception."""
    error: Dict[str, object] = {}
    try:
        parsed = json.loads(body.decode("utf-8"))
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            error = parsed["error"]
    except ValueError:
        pass
    code = error.get("code")
    message = error.get("message")
    field = error.get("field")
    return CortexRequestError(
        status,
        code if isinstance(code, str) else f"http_{status}",
        message if isinstance(message, str) else (reason or f"HTTP {status}"),
        field if isinstance(field, str) else None,
        url,
    )


def retryable(status: int) -> bool:
    """Whether a failure may go away if the same request is sent again."""
    return status == 429 or status >= 500


def retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` (delay-seconds or an HTTP date) in seconds, from 0 to ``MAX_RETRY_AFTER``;
    ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff(attempt: int) -> float:
    """0.1 s, 0.2 s, 0.4 s... up to 5 s, with jitter so that many clients do not retry in step."""
    return min(5.0, 0.1 * 2.0**attempt) * (0.5 + random.random() / 2)
