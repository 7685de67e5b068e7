"""An incremental parser of ``text/event-stream``, following the WHATWG processing model."""

from __future__ import annotations

import codecs
import re
from typing import List, NamedTuple, Optional

_DIGITS = re.compile(r"[0-9]+")


class SseMessage(NamedTuple):
    """One dispatched message: its own ``id:`` (``None`` when it had none, as the ``gap`` event
    has), its type (``message`` when it had no ``event:``) and its data lines joined by LF."""

    id: Optional[str]
    event: str
    data: str


class SseParser:
    """Feed it bytes as they arrive; it returns the messages they complete.

    UTF-8 is decoded across chunk boundaries and a leading BOM dropped; lines end at CR, LF or
    CRLF (a CRLF split between two chunks too); ``data:`` lines join with LF; comments (``:``)
    and unknown fields are ignored; one space after the colon is dropped; ``retry:`` with only
    digits sets ``retry`` (milliseconds); an ``id:`` holding NUL is ignored.

    Example::

        parser = SseParser()
        parser.feed(b"retry: 1000\\n\\nid: 1\\nevent: progress\\ndata: {}\\n\\n")
        # [SseMessage(id='1', event='progress', data='{}')], and parser.retry == 1000
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._buffer = ""
        self._skip_lf = False
        self._id: Optional[str] = None
        self._event = ""
        self._data: List[str] = []
        self._out: List[SseMessage] = []
        #: The last ``retry:`` value seen, in milliseconds.
        self.retry: Optional[int] = None

    def feed(self, chunk: bytes) -> List[SseMessage]:
        text = self._decoder.decode(chunk)
        if self._skip_lf and text:
            # The LF of a CRLF whose CR ended the last chunk.
            if text[0] == "\n":
                text = text[1:]
            self._skip_lf = False
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            end = lf if cr < 0 else cr if lf < 0 else min(cr, lf)
            if end < 0:
                break
            self._line(buffer[start:end])
            if buffer[end] == "\r":
                if end + 1 == length:
                    self._skip_lf = True
                elif buffer[end + 1] == "\n":
                    start = end + 2
                    continue
            start = end + 1
        self._buffer = buffer[start:]
        out, self._out = self._out, []
        return out

    def _line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            if _DIGITS.fullmatch(value):
                self.retry = int(value)

    def _dispatch(self) -> None:
        if self._data:
            self._out.append(SseMessage(self._id, self._event or "message", "\n".join(self._data)))
        self._id = None
        self._event = ""
        self._data = []
