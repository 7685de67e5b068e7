"""subscribe(): events in order, each once, across dropped connections and server restarts."""

from __future__ import annotations

import gc
import threading
import time
import unittest

import _support as s
from cortex_stream import CortexRequestError, Event, publish, subscribe
from cortex_stream._sse import SseMessage, SseParser


class SubscribeTest(s.ServerTest):
    server_args = ["--retry-ms", "100"]

    def test_yields_events_in_order_and_ends_after_the_terminal_event(self) -> None:
        publish(
            "workflows/wf-1",
            {"event": "step_start", "data": {"stepId": "s1", "name": "Review"}},
            **self.kw(),
        )
        seen = s.Collector(subscribe("workflows/wf-1", **self.kw()))
        publish(
            "workflows/wf-1",
            [
                {"event": "step_complete", "data": {"stepId": "s1", "duration": 5}},
                {"event": "complete", "data": {"result": "ok"}},
            ],
            **self.kw(),
        )
        self.assertEqual(
            seen.join(),
            [
                Event(1, "step_start", {"stepId": "s1", "name": "Review"}),
                Event(2, "step_complete", {"stepId": "s1", "duration": 5}),
                Event(3, "complete", {"result": "ok"}),
            ],
        )
        self.assertTrue(seen.items[-1].terminal)
        # Resuming at the end of a run that ended: 204, and the iterator ends with nothing.
        started = time.monotonic()
        self.assertEqual(list(subscribe("workflows/wf-1", **self.kw(last_event_id=3))), [])
        self.assertLess(time.monotonic() - started, 1)

    def test_waits_for_an_agent_with_no_events_yet(self) -> None:
        sub = subscribe("agents/later", **self.kw())
        seen = s.Collector(sub)
        time.sleep(0.2)
        publish(
            "agents/later",
            [
                {"event": "progress", "data": {"progress": 0.5}},
                {"event": "failed", "data": {"message": "no"}},
            ],
            **self.kw(),
        )
        self.assertEqual([(e.id, e.event) for e in seen.join()], [(1, "progress"), (2, "failed")])
        self.assertEqual(sub.last_event_id, 2)

    def test_a_replay_goes_past_the_end_of_earlier_executions(self) -> None:
        for n in (1, 2):
            publish(
                "agents/twice",
                [
                    {"event": "progress", "data": {"run": n}},
                    {"event": "complete", "data": {"result": n}},
                ],
                **self.kw(),
            )
        seen = list(subscribe("agents/twice", **self.kw(last_event_id=0)))
        self.assertEqual(
            [(e.id, e.event) for e in seen],
            [(1, "progress"), (2, "complete"), (3, "progress"), (4, "complete")],
        )
        # Without Last-Event-ID: the current (last) execution only.
        self.assertEqual([e.id for e in subscribe("agents/twice", **self.kw())], [3, 4])

    def test_raises_a_refusal_instead_of_retrying_it(self) -> None:
        with self.assertRaises(CortexRequestError) as caught:
            list(subscribe("agents/x", url=self.server.url, token="nope"))
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))

    def test_close_from_another_thread_ends_it_and_the_server_lets_go(self) -> None:
        sub = subscribe("agents/quiet", **self.kw())
        seen = s.Collector(sub)
        publish("agents/quiet", {"event": "progress"}, **self.kw())
        s.eventually(lambda: len(seen.items) == 1, what="the first event")
        started = time.monotonic()
        sub.close()
        self.assertEqual(len(seen.join(2)), 1)
        self.assertLess(time.monotonic() - started, 1)
        s.eventually(
            lambda: self.server.metric("cortex_open_streams") == 0, what="the stream to close"
        )

    def test_a_stop_event_ends_it(self) -> None:
        stop = threading.Event()
        seen = s.Collector(subscribe("agents/stopped", **self.kw(stop=stop)))
        time.sleep(0.2)
        stop.set()
        self.assertEqual(seen.join(2), [])

    def test_one_dropped_unfinished_lets_go_of_its_connection(self) -> None:
        publish("agents/dropped", {"event": "progress"}, **self.kw())
        sub = subscribe("agents/dropped", **self.kw(stop=threading.Event()))
        self.assertEqual(next(sub).id, 1)
        self.assertEqual(self.server.metric("cortex_open_streams"), 1)
        del sub
        gc.collect()
        s.eventually(
            lambda: self.server.metric("cortex_open_streams") == 0, what="the stream to close"
        )

    def test_as_a_context_manager_it_closes_its_connection(self) -> None:
        publish("agents/ctx", {"event": "progress"}, **self.kw())
        with subscribe("agents/ctx", **self.kw()) as sub:
            self.assertEqual(next(sub).id, 1)
        self.assertTrue(sub.closed)
        s.eventually(
            lambda: self.server.metric("cortex_open_streams") == 0, what="the stream to close"
        )


class RestartTest(unittest.TestCase):
    def test_delivers_every_acknowledged_event_once_across_kill_9_and_a_restart(self) -> None:
        first = s.Server(["--retry-ms", "100"])
        self.addCleanup(first.close)
        kw = {"url": first.url, "token": first.token}
        seen = s.Collector(subscribe("agents/crash", **kw))
        acked = []
        for i in range(50):
            acked += publish("agents/crash", {"event": "progress", "data": {"i": i}}, **kw).ids
        s.eventually(lambda: len(seen.items) >= 20, what="some events before the kill")
        first.kill()
        second = first.restart()
        self.addCleanup(second.kill)
        for i in range(50, 100):
            acked += publish("agents/crash", {"event": "progress", "data": {"i": i}}, **kw).ids
        acked += publish("agents/crash", {"event": "complete"}, **kw).ids
        events = seen.join(15)
        self.assertEqual([e.id for e in events], acked)
        self.assertEqual([e.data["i"] for e in events[:100]], list(range(100)))
        self.assertEqual(events[-1].event, "complete")


class RetentionTest(unittest.TestCase):
    def test_reports_a_gap_when_the_events_were_pruned(self) -> None:
        server = s.Server(["--retention", "1s"])
        self.addCleanup(server.close)
        kw = {"url": server.url, "token": server.token}
        publish(
            "agents/a",
            [{"event": "progress"}, {"event": "complete", "data": {"result": "one"}}],
            **kw,
        )
        time.sleep(1.2)
        publish("agents/a", {"event": "progress", "data": {"message": "second run"}}, **kw)
        self.assertEqual(
            server.http("POST", "/api/admin/prune"), (200, {"prunedEvents": 2, "prunedStreams": 1})
        )
        sub = subscribe("agents/a", **kw, last_event_id=0)
        self.assertEqual(next(sub), Event(None, "gap", {"requested": 1, "firstAvailable": 3}))
        self.assertEqual(sub.last_event_id, 0)  # a gap has no id: it does not move the cursor
        self.assertEqual(next(sub), Event(3, "progress", {"message": "second run"}))
        publish("agents/a", {"event": "complete"}, **kw)
        self.assertEqual([e.id for e in sub], [4])


class StubbedServerTest(unittest.TestCase):
    """Against a stand-in that writes the SSE text a test wants, and drops the connection."""

    def sse(self, answers) -> s.Stub:
        """Each request gets the next of ``answers`` (the last one again when they run out): a
        status and a body, or a body written and then held open for ``hold`` seconds."""

        def handle(req: s.StubRequest) -> None:
            answer = answers[min(len(stub.requests), len(answers)) - 1]
            status, body, headers, hold = tuple(answer) + (None, None, None, 0)[len(answer) :]
            if status != 200:
                req.reply(status, body, headers)
                return
            h = req.handler
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
            time.sleep(hold)
            h.close_connection = True

        stub = s.Stub(handle)
        self.addCleanup(stub.close)
        return stub

    def test_follows_retry_reports_a_gap_and_resumes_with_last_event_id(self) -> None:
        # A server whose retention pruned ids 1-8, that drops the first connection after one
        # event, asking for a 50 ms reconnect delay; in CRLF, after a BOM, with a comment and
        # an event whose data spans two lines.
        first = (
            '\ufeffretry: 50\r\n\r\n: hello\r\nevent: gap\r\ndata: {"requested":1,\r\n'
            'data: "firstAvailable":9}\r\n\r\nid: 9\revent: progress\rdata: {"progress":0.5}\r\r'
        ).encode()
        stub = self.sse(
            [(200, first), (200, b'id: 10\nevent: complete\ndata: {"result":"\xc3\xa9"}\n\n')]
        )
        seen = list(subscribe("agents/pruned", url=stub.url, token="t", last_event_id=0))
        self.assertEqual(
            seen,
            [
                Event(None, "gap", {"requested": 1, "firstAvailable": 9}),
                Event(9, "progress", {"progress": 0.5}),
                Event(10, "complete", {"result": "é"}),
            ],
        )
        self.assertEqual([r.headers.get("last-event-id") for r in stub.requests], ["0", "9"])
        self.assertEqual(stub.requests[0].headers["authorization"], "Bearer t")
        self.assertEqual(stub.requests[0].path, "/api/streaming/agents/pruned/stream")
        self.assertLess(stub.requests[1].at - stub.requests[0].at, 0.5)

    def test_waits_for_retry_after_on_a_503(self) -> None:
        stub = self.sse(
            [
                (503, s.error_body("overloaded", "full"), {"Retry-After": "1"}, 0),
                (200, b"retry: 10\n\nid: 1\nevent: complete\ndata: {}\n\n"),
            ]
        )
        self.assertEqual([e.id for e in subscribe("agents/busy", url=stub.url, token="t")], [1])
        self.assertGreaterEqual(stub.requests[1].at - stub.requests[0].at, 0.95)

    def test_takes_a_silent_connection_for_dead_after_read_timeout(self) -> None:
        stub = self.sse(
            [
                (200, b"retry: 10\n\nid: 1\nevent: progress\ndata: {}\n\n", None, 3),
                (200, b"id: 2\nevent: complete\ndata: {}\n\n"),
            ]
        )
        started = time.monotonic()
        seen = list(subscribe("agents/silent", url=stub.url, token="t", read_timeout=0.3))
        self.assertEqual([e.id for e in seen], [1, 2])
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(stub.requests[1].headers["last-event-id"], "1")

    def test_asks_a_token_function_again_after_a_401(self) -> None:
        tokens = iter(["expired", "fresh"])

        def handle(req: s.StubRequest) -> None:
            if req.headers["authorization"] != "Bearer fresh":
                req.reply(401, s.error_body("unauthorized", "expired ticket"))
            else:
                req.reply(
                    200, b"id: 1\nevent: complete\ndata: {}\n\n", content_type="text/event-stream"
                )

        stub = s.Stub(handle)
        self.addCleanup(stub.close)
        self.assertEqual(
            [e.id for e in subscribe("agents/t", url=stub.url, token=lambda: next(tokens))], [1]
        )
        self.assertEqual(len(stub.requests), 2)


class ParserTest(unittest.TestCase):
    TEXT = (
        '\ufeffretry: 250\n\n: heartbeat\n\nid: 1\nevent: progress\ndata: {"m":"é€😀"}\n\n'
        "event: gap\r\ndata: a\r\ndata: b\r\n\r\nid: 2\revent: x\rdata:no space\rignored: y\r\r"
        "id: 3\0\ndata: z\n\nid\ndata\n\n"
    ).encode()

    def test_any_split_of_the_bytes_gives_the_same_messages(self) -> None:
        expected = [
            SseMessage("1", "progress", '{"m":"é€😀"}'),
            SseMessage(None, "gap", "a\nb"),
            SseMessage("2", "x", "no space"),
            SseMessage(None, "message", "z"),
            SseMessage("", "message", ""),
        ]
        for at in range(len(self.TEXT) + 1):
            for step in (1, 2, 3, 7):
                parser = SseParser()
                out = parser.feed(self.TEXT[:at])
                rest = self.TEXT[at:]
                for i in range(0, len(rest), step):
                    out += parser.feed(rest[i : i + step])
                self.assertEqual(out, expected, f"split at {at}, then every {step}")
                self.assertEqual(parser.retry, 250)


if __name__ == "__main__":
    unittest.main()
