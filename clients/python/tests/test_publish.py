"""publish(): ids, typed errors, and retries that never append twice."""

from __future__ import annotations

import threading
import time
import unittest
import unittest.mock
from email.utils import formatdate

import _support as s
from cortex_stream import (
    CancelRequest,
    CortexConnectionError,
    CortexRequestError,
    Publisher,
    publish,
    subscribe,
)


class PublishTest(s.ServerTest):
    def test_appends_events_and_returns_their_ids(self) -> None:
        first = publish("agents/ids", {"event": "progress", "data": {"progress": 0.5}}, **self.kw())
        self.assertEqual(first.ids, [1])
        self.assertIsNone(first.cancel_requested)
        self.assertFalse(first.replayed)
        batch = publish(
            "agents/ids",
            [{"event": "custom_x", "data": {"a": 1, "é": "ü"}}, {"event": "complete"}],
            **self.kw(),
        )
        self.assertEqual(batch.ids, [2, 3])
        self.assertEqual(batch.raw, {"ids": [2, 3]})
        self.assertEqual(
            self.server.events("agents/ids"),
            [
                {"id": 1, "event": "progress", "data": {"progress": 0.5}},
                {"id": 2, "event": "custom_x", "data": {"a": 1, "é": "ü"}},
                {"id": 3, "event": "complete", "data": {}},
            ],
        )

    def test_takes_url_and_token_from_the_environment(self) -> None:
        env = {"CORTEX_URL": self.server.url, "CORTEX_TOKEN": self.server.token}
        with unittest.mock.patch.dict("os.environ", env):
            self.assertEqual(publish("agents/env", {"event": "progress"}).ids, [1])

    def test_reports_a_pending_cancel_request_until_the_run_ends(self) -> None:
        publish("agents/stop", {"event": "progress"}, **self.kw())
        status, body = self.server.http("POST", "/api/agents/stop/cancel", {"reason": "enough"})
        self.assertEqual((status, body), (202, {"id": 2}))
        answer = publish("agents/stop", {"event": "progress"}, **self.kw())
        self.assertEqual(answer.ids, [3])
        self.assertEqual(answer.cancel_requested, CancelRequest(id=2, reason="enough"))
        self.assertEqual(answer.raw["cancelRequested"], {"reason": "enough", "id": 2})
        ended = publish(
            "agents/stop", {"event": "cancelled", "data": {"reason": "enough"}}, **self.kw()
        )
        self.assertEqual((ended.ids, ended.cancel_requested), ([4], None))

    def test_raises_the_contract_error_with_its_field(self) -> None:
        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/bad", {"event": "progress", "data": {"progress": 2}}, **self.kw())
        e = caught.exception
        self.assertEqual((e.status, e.code, e.field), (400, "invalid_event", "/data/progress"))
        self.assertIn("/api/agents/bad/events", e.url)
        self.assertIn("400 invalid_event at /data/progress", str(e))

        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/bad", {"event": "progress"}, url=self.server.url, token="wrong")
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))

        publish("workflows/wf-ended", {"event": "complete"}, **self.kw())
        with self.assertRaises(CortexRequestError) as caught:
            publish(
                "workflows/wf-ended", {"event": "step_start", "data": {"stepId": "s"}}, **self.kw()
            )
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "stream_ended"))

        publish("agents/key", {"event": "progress"}, **self.kw(idempotency_key="k-1"))
        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/key", {"event": "complete"}, **self.kw(idempotency_key="k-1"))
        self.assertEqual(
            (caught.exception.status, caught.exception.code), (422, "idempotency_key_reused")
        )

    def test_refuses_what_it_cannot_send_before_sending(self) -> None:
        with self.assertRaises(ValueError):
            publish("queues/x", {"event": "progress"}, **self.kw())
        with self.assertRaises(ValueError):
            publish("agents/x", {"event": "progress"}, url="127.0.0.1:8787")
        with self.assertRaises(ValueError):
            Publisher("agents/x", url="ftp://127.0.0.1")
        with self.assertRaises(ValueError):
            subscribe("agents/x", url="localhost")
        with self.assertRaises(ValueError):
            publish(
                "agents/x", {"event": "progress", "data": {"progress": float("nan")}}, **self.kw()
            )
        with self.assertRaises(TypeError):
            publish("agents/x", {"event": "progress", "data": {"when": object()}}, **self.kw())
        with self.assertRaises(TypeError):
            publish("agents/x", "progress", **self.kw())  # type: ignore[arg-type]
        self.assertEqual(self.server.events("agents/x"), [])

    def test_a_repeat_with_the_same_key_is_answered_without_appending(self) -> None:
        event = {"event": "progress", "data": {"message": "once"}}
        first = publish("agents/replay", event, **self.kw(idempotency_key="run-7"))
        again = publish("agents/replay", event, **self.kw(idempotency_key="run-7"))
        self.assertEqual((first.ids, again.ids, again.replayed), ([1], [1], True))
        self.assertEqual(len(self.server.events("agents/replay")), 1)


class RetryTest(s.ServerTest):
    """Against stand-ins for the network in front of the server, and a server that restarts."""

    def stub(self, handle) -> s.Stub:
        stub = s.Stub(handle)
        self.addCleanup(stub.close)
        return stub

    def relay(self, req: s.StubRequest) -> None:
        status, headers, body = req.forward(self.server.url)
        req.reply(status, body, {k: v for k, v in headers.items() if k == "idempotent-replayed"})

    def test_an_answer_lost_with_the_connection_is_retried_with_the_same_key(self) -> None:
        def handle(req: s.StubRequest) -> None:
            # The first two requests reach the server; their answers never come back.
            status, _, _ = req.forward(self.server.url)
            self.assertEqual(status, 201)
            if len(stub.requests) <= 2:
                req.drop()
            else:
                self.relay(req)

        stub = self.stub(handle)
        answer = publish(
            "agents/lossy",
            {"event": "progress", "data": {"m": "once"}},
            url=stub.url,
            token=self.server.token,
        )
        self.assertEqual((answer.ids, answer.replayed), ([1], True))
        keys = {r.headers["idempotency-key"] for r in stub.requests}
        self.assertEqual((len(stub.requests), len(keys)), (3, 1))
        self.assertEqual(
            self.server.events("agents/lossy"),
            [{"id": 1, "event": "progress", "data": {"m": "once"}}],
        )
        # A new call is a new key, and a new event.
        self.assertEqual(
            publish(
                "agents/lossy", {"event": "progress"}, url=self.server.url, token=self.server.token
            ).ids,
            [2],
        )

    def test_waits_for_retry_after_in_seconds_on_a_503(self) -> None:
        def handle(req: s.StubRequest) -> None:
            if len(stub.requests) == 1:
                req.reply(
                    503,
                    s.error_body("store_unavailable", "the store is away"),
                    {"Retry-After": "1"},
                )
            else:
                self.relay(req)

        stub = self.stub(handle)
        answer = publish(
            "agents/after", {"event": "progress"}, url=stub.url, token=self.server.token
        )
        self.assertEqual(answer.ids, [1])
        first, second = stub.requests
        self.assertGreaterEqual(second.at - first.at, 0.95)
        self.assertLess(second.at - first.at, 3)
        self.assertEqual(first.headers["idempotency-key"], second.headers["idempotency-key"])

    def test_waits_for_retry_after_as_an_http_date_on_a_429(self) -> None:
        def handle(req: s.StubRequest) -> None:
            if len(stub.requests) == 1:
                # Whole seconds: 2 s from now is at least 1 s from now.
                when = formatdate(time.time() + 2, usegmt=True)
                req.reply(
                    429, s.error_body("too_many_requests", "slow down"), {"Retry-After": when}
                )
            else:
                self.relay(req)

        stub = self.stub(handle)
        retried = []
        publish(
            "agents/date",
            {"event": "progress"},
            url=stub.url,
            token=self.server.token,
            on_retry=retried.append,
        )
        first, second = stub.requests
        self.assertGreaterEqual(second.at - first.at, 0.95)
        self.assertEqual([(e.status, e.code) for e in retried], [(429, "too_many_requests")])

    def test_gives_up_at_once_when_retry_after_falls_past_the_deadline(self) -> None:
        stub = self.stub(
            lambda req: req.reply(503, s.error_body("overloaded", "full"), {"Retry-After": "5"})
        )
        started = time.monotonic()
        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/x", {"event": "progress"}, url=stub.url, token="t", retry_for=2)
        self.assertLess(time.monotonic() - started, 1)
        self.assertEqual((caught.exception.status, caught.exception.code), (503, "overloaded"))
        self.assertEqual(len(stub.requests), 1)

    def test_retries_5xx_with_backoff_then_raises_the_last_one(self) -> None:
        stub = self.stub(lambda req: req.reply(500, s.error_body("internal", "bug")))
        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/x", {"event": "progress"}, url=stub.url, token="t", retry_for=0.8)
        self.assertEqual(caught.exception.status, 500)
        self.assertGreater(len(stub.requests), 2)
        self.assertEqual(len({r.headers["idempotency-key"] for r in stub.requests}), 1)

    def test_does_not_retry_a_4xx(self) -> None:
        stub = self.stub(lambda req: req.reply(403, s.error_body("forbidden", "no")))
        with self.assertRaises(CortexRequestError):
            publish("agents/x", {"event": "progress"}, url=stub.url, token="t")
        self.assertEqual(len(stub.requests), 1)

    def test_an_error_body_that_is_not_the_contract_still_gives_a_status(self) -> None:
        stub = self.stub(
            lambda req: req.reply(404, b"<html>not here</html>", content_type="text/html")
        )
        with self.assertRaises(CortexRequestError) as caught:
            publish("agents/x", {"event": "progress"}, url=stub.url, token="t")
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "http_404"))

    def test_raises_a_connection_error_naming_the_url_when_nothing_answers(self) -> None:
        url = f"http://127.0.0.1:{s.free_port()}"
        started = time.monotonic()
        with self.assertRaises(CortexConnectionError) as caught:
            publish("agents/x", {"event": "progress"}, url=url, token="t", retry_for=0.5)
        self.assertLess(time.monotonic() - started, 3)
        self.assertTrue(caught.exception.url.startswith(url))
        self.assertIsInstance(caught.exception.cause, ConnectionRefusedError)
        self.assertIn("connection refused", str(caught.exception))

    def test_waits_out_a_server_restart_and_stores_the_event_once(self) -> None:
        server = s.Server()
        self.addCleanup(server.close)
        current = [server]
        self.addCleanup(lambda: current[0].kill())
        server.kill()
        result = {}
        publishing = threading.Thread(
            target=lambda: result.update(
                answer=publish(
                    "agents/restart",
                    {"event": "progress", "data": {"n": 1}},
                    url=server.url,
                    token=server.token,
                )
            ),
            daemon=True,
        )
        publishing.start()
        time.sleep(1.5)
        current[0] = server.restart()
        publishing.join(15)
        self.assertEqual(result["answer"].ids, [1])
        self.assertEqual(
            current[0].events("agents/restart"), [{"id": 1, "event": "progress", "data": {"n": 1}}]
        )


if __name__ == "__main__":
    unittest.main()
