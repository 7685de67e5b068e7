"""What the tests share: a real cortex-stream server in a subprocess, started the way
test/helpers.ts starts it (`bun src/main.ts serve --port ... --db ... --token ...`), and small
local stand-ins for a network in front of it. Everything listens on 127.0.0.1."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # clients/python
ROOT = os.path.dirname(os.path.dirname(PACKAGE_ROOT))  # the repository
MAIN = os.path.join(ROOT, "src", "main.ts")
TOKEN = "test-token-0123456789"

if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)


# Looked up here, not in the child between fork and exec, where only a plain call is safe.
try:
    import ctypes

    _prctl: Any = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    """In the server's process before exec: SIGKILL it when the tests' process dies, so that a
    run killed halfway (a timeout of bun test) leaves no server behind. Linux only."""
    _prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def bun() -> str:
    path = os.environ.get("BUN") or shutil.which("bun")
    if not path:
        raise unittest.SkipTest("bun is not on PATH and BUN is not set")
    return path


class Server:
    """A cortex-stream server process on a SQLite file in a temp dir. ``kill()`` is kill -9;
    ``restart()`` starts a new process on the same file and port."""

    def __init__(self, args: Optional[List[str]] = None, db: Optional[str] = None, port: int = 0):
        self.args = list(args or [])
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        if db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cortex-py-")
            db = os.path.join(self._tmp.name, "c.db")
        self.db = db
        self.token = TOKEN
        self.output: List[str] = []
        self.proc = subprocess.Popen(
            [bun(), MAIN, "serve", "--port", str(port), "--db", db, "--token", TOKEN, *self.args],
            cwd=ROOT,
            env={**os.environ, "CORTEX_TOKEN": "", "CORTEX_TOKENS_FILE": ""},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )
        listening: Dict[str, Any] = {}
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace")
                self.output.append(line)
                if not ready.is_set() and '"msg":"listening"' in line:
                    listening.update(json.loads(line))
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(15) or not listening:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "".join(self.output))
        self.url: str = listening["url"]
        self.port: int = listening["port"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def restart(self) -> "Server":
        return Server(self.args, db=self.db, port=self.port)

    def close(self) -> None:
        self.kill()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- talking to it directly, not through the client under test ----------------------------

    def http(self, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            res = conn.getresponse()
            text = res.read()
            return res.status, json.loads(text) if text else None
        finally:
            conn.close()

    def events(self, stream: str) -> List[Dict[str, Any]]:
        """The stored events of a stream, as the event pages give them."""
        kind, name = stream.split("/", 1)
        status, page = self.http("GET", f"/api/{kind}/{name}/events?limit=1000")
        if status == 404:
            return []
        assert status == 200, (status, page)
        return [{"id": e["id"], "event": e["event"], "data": e["data"]} for e in page["events"]]

    def metric(self, name: str) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split(" ")[1])
        raise KeyError(name)


class ServerTest(unittest.TestCase):
    """A test case with one real server for the class; `server_args` are its extra flags."""

    server: Server
    server_args: List[str] = []

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server(cls.server_args)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()

    def kw(self, **more: Any) -> Dict[str, Any]:
        """The server's url and token as keyword arguments, with `more`."""
        return {"url": self.server.url, "token": self.server.token, **more}


def free_port() -> int:
    """A port nothing listens on: one the system just gave out and took back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stub:
    """A local HTTP server whose answers a test writes: ``handle(request)`` gets each request
    (``method``, ``path``, ``headers``, ``body``, ``at``, and the raw handler) and answers it by
    calling ``reply()`` or by writing to ``request.handler`` itself. Records every request."""

    def __init__(self, handle: Callable[["StubRequest"], None]):
        self.requests: List[StubRequest] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = StubRequest(
                    self.command, self.path, dict(self.headers), self.rfile.read(length), self
                )
                stub.requests.append(req)
                handle(req)

            do_GET = do_POST = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StubRequest:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes, handler: Any):
        self.method = method
        self.path = path
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.handler = handler
        self.at = time.monotonic()

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: Optional[Dict[str, str]] = None,
        content_type: str = "application/json",
    ) -> None:
        h = self.handler
        h.send_response(status)
        for k, v in {"Content-Type": content_type, **(headers or {})}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
        h.close_connection = True

    def forward(self, target: str) -> Tuple[int, Dict[str, str], bytes]:
        """Sends the same request to ``target`` (the real server) and returns its answer."""
        host, port = target.replace("http://", "").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k not in ("host", "connection")}
            conn.request(self.method, self.path, body=self.body or None, headers=headers)
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def drop(self) -> None:
        """Closes the connection without an answer."""
        self.handler.close_connection = True
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def eventually(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Collector:
    """Iterates a subscription on a thread of its own, keeping what it yields."""

    def __init__(self, iterable: Any):
        self.items: List[Any] = []
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(iterable,), daemon=True)
        self.thread.start()

    def _run(self, iterable: Any) -> None:
        try:
            for item in iterable:
                self.items.append(item)
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            self.error = e

    def join(self, timeout: float = 10.0) -> List[Any]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError(f"the subscription did not end in {timeout} s; got {self.items}")
        if self.error is not None:
            raise self.error
        return self.items
