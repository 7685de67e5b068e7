"""Publisher: progress coalesced, everything else in order, bounded, and a run as a context."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import unittest

import _support as s
from cortex_stream import CancelRequest, CortexRequestError, Publisher


class PublisherTest(s.ServerTest):
    def pairs(self, stream: str):
        return [(e["event"], e["data"]) for e in self.server.events(stream)]

    def test_coalesces_a_burst_of_progress_keeping_the_last_value_and_the_end(self) -> None:
        p = Publisher("agents/chatty", **self.kw(progress_per_second=10))
        p.send("step_note", {"note": "start"})
        for i in range(1, 10_001):
            p.progress(progress=i / 10_000, message=f"item {i}")
        p.send("complete", {"result": "done"})
        p.close()
        self.assertLess(p.requests, 10)
        events = self.pairs("agents/chatty")
        self.assertEqual(events[0], ("step_note", {"note": "start"}))
        self.assertEqual(events[-2], ("progress", {"progress": 1, "message": "item 10000"}))
        self.assertEqual(events[-1], ("complete", {"result": "done"}))
        self.assertLess(len(events), 10)

    def test_sends_progress_at_the_rate_while_nothing_else_comes(self) -> None:
        p = Publisher("agents/rate", **self.kw(progress_per_second=20))
        started = time.monotonic()
        while time.monotonic() - started < 0.5:
            p.progress({"progress": min(1.0, time.monotonic() - started)})
            time.sleep(0.001)
        p.flush()
        n = len(self.server.events("agents/rate"))
        self.assertGreaterEqual(n, 5)
        self.assertLessEqual(n, 12)
        p.close()

    def test_keeps_the_order_of_calls_in_batches(self) -> None:
        p = Publisher("workflows/wf-order", **self.kw(progress_per_second=1000, max_batch=7))
        for n in range(20):
            p.send("step_start", {"stepId": f"s{n}"})
            p.send("step_progress", stepId=f"s{n}", progress=0.5)
            p.send("step_complete", {"stepId": f"s{n}"})
        p.flush()
        events = self.server.events("workflows/wf-order")
        self.assertEqual(len(events), 60)
        self.assertEqual([e["data"]["stepId"] for e in events], [f"s{i // 3}" for i in range(60)])
        self.assertGreaterEqual(p.requests, 60 // 7)
        p.close()

    def test_a_with_block_ends_in_complete_with_its_result(self) -> None:
        published = []
        with Publisher("agents/ok", **self.kw(on_published=published.append)) as p:
            p.progress(message="working", progress=0.5)
            p.result = {"files": 3}
        events = self.pairs("agents/ok")
        self.assertEqual(events[0], ("progress", {"message": "working", "progress": 0.5}))
        self.assertEqual(events[1][0], "complete")
        self.assertEqual(events[1][1]["result"], {"files": 3})
        self.assertIsInstance(events[1][1]["duration"], int)
        self.assertEqual(sum(published, []), [1, 2])
        with self.assertRaises(RuntimeError):
            p.send("progress")

    def test_a_with_block_that_raises_ends_in_failed_and_the_exception_goes_on(self) -> None:
        with self.assertRaises(ValueError):
            with Publisher("agents/boom", **self.kw()) as p:
                p.progress(message="about to fail")
                raise ValueError("the model said no")
        last = self.pairs("agents/boom")[-1]
        self.assertEqual(last[0], "failed")
        self.assertEqual(last[1]["message"], "the model said no")
        self.assertEqual(last[1]["code"], "ValueError")

    def test_ctrl_c_in_a_with_block_ends_in_cancelled(self) -> None:
        with self.assertRaises(KeyboardInterrupt):
            with Publisher("agents/interrupted", **self.kw()):
                raise KeyboardInterrupt
        self.assertEqual(
            self.pairs("agents/interrupted"), [("cancelled", {"reason": "KeyboardInterrupt"})]
        )

    def test_a_with_block_that_ended_the_run_itself_gets_no_second_end(self) -> None:
        with Publisher("workflows/wf-self", **self.kw()) as p:
            p.send("step_start", {"stepId": "a"})
            p.send("cancelled", {"reason": "asked to"})
        self.assertEqual(
            [e for e, _ in self.pairs("workflows/wf-self")], ["step_start", "cancelled"]
        )

    def test_tells_of_a_cancel_request_from_the_answers(self) -> None:
        asked = []
        p = Publisher("agents/cancel-me", **self.kw(on_cancel_requested=asked.append))
        p.progress(message="start")
        p.flush()
        self.assertIsNone(p.cancel_requested)
        self.assertEqual(
            self.server.http("POST", "/api/agents/cancel-me/cancel", {"reason": "stop"})[0], 202
        )
        p.send("tool_call", {"tool": "grep"})
        p.flush()
        self.assertEqual(p.cancel_requested, CancelRequest(2, "stop"))
        self.assertEqual(asked, [CancelRequest(2, "stop")])
        p.send("cancelled", {"reason": "stop"})
        p.close()
        self.assertIsNone(p.cancel_requested)

    def test_a_callback_may_send_the_end_of_the_run(self) -> None:
        p = Publisher(
            "agents/callback",
            **self.kw(
                max_queued=1,
                on_cancel_requested=lambda r: p.send("cancelled", {"reason": r.reason}),
            ),
        )
        p.send("step_note", n=1)
        p.flush()
        self.server.http("POST", "/api/agents/callback/cancel", {"reason": "stop"})
        p.send("step_note", n=2)
        p.flush()
        p.close()
        self.assertEqual(
            [e for e, _ in self.pairs("agents/callback")],
            ["step_note", "cancel_requested", "step_note", "cancelled"],
        )

    def test_a_publisher_never_closed_sends_what_it_holds_at_exit(self) -> None:
        script = (
            "import sys; sys.path.insert(0, sys.argv[3])\n"
            "from cortex_stream import Publisher\n"
            "p = Publisher('agents/at-exit', url=sys.argv[1], token=sys.argv[2])\n"
            "p.progress(message='one')\n"
            "p.send('complete', {'result': 'sent at exit'})\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", script, self.server.url, self.server.token, s.PACKAGE_ROOT],
            capture_output=True,
            text=True,
            timeout=20,
        )
        self.assertEqual((run.returncode, run.stderr), (0, ""))
        self.assertEqual(
            self.pairs("agents/at-exit"),
            [("progress", {"message": "one"}), ("complete", {"result": "sent at exit"})],
        )

    def test_after_a_refusal_it_sends_nothing_more_and_raises_that_refusal(self) -> None:
        p = Publisher("agents/refused", **self.kw())
        p.progress(progress=2)
        with self.assertRaises(CortexRequestError) as first:
            p.flush(timeout=5)
        self.assertEqual((first.exception.status, first.exception.field), (400, "/0/data/progress"))
        p.send("complete", {"result": "after the refusal"})
        with self.assertRaises(CortexRequestError) as closed:
            p.close(timeout=5)
        self.assertIs(closed.exception, first.exception)
        self.assertIs(p.failure, first.exception)
        self.assertEqual(p.requests, 1)
        self.assertEqual([e["event"] for e in p.unsent()], ["progress", "complete"])
        self.assertEqual(self.server.events("agents/refused"), [])

    def test_a_failure_in_a_with_block_does_not_hide_the_blocks_exception(self) -> None:
        with self.assertLogs("cortex_stream", "WARNING"):
            with self.assertRaises(KeyError):
                with Publisher("agents/x", url=self.server.url, token="wrong"):
                    raise KeyError("mine")

    def test_retries_through_a_server_restart_sending_everything_once_in_order(self) -> None:
        first = s.Server()
        self.addCleanup(first.close)
        retried = []
        p = Publisher(
            "workflows/wf-restart", url=first.url, token=first.token, on_retry=retried.append
        )
        for n in range(10):
            p.send("step_start", {"stepId": f"s{n}"})
        p.flush(timeout=5)
        first.kill()
        for n in range(10, 30):
            p.send("step_start", {"stepId": f"s{n}"})
            time.sleep(0.02)
        s.eventually(lambda: p.retrying is not None, what="a failed attempt")
        time.sleep(0.5)
        second = first.restart()
        self.addCleanup(second.kill)
        p.send("complete", {"result": "through a restart"})
        p.close(timeout=15)
        events = second.events("workflows/wf-restart")
        self.assertEqual([e["id"] for e in events], list(range(1, 32)))
        self.assertEqual(
            [e["data"].get("stepId") for e in events[:30]], [f"s{n}" for n in range(30)]
        )
        self.assertEqual(events[-1]["event"], "complete")
        self.assertTrue(retried)
        self.assertIsNone(p.retrying)


class BoundTest(unittest.TestCase):
    def test_drops_the_oldest_waiting_progress_then_makes_send_wait(self) -> None:
        release = threading.Event()
        bodies = []

        def handle(req: s.StubRequest) -> None:
            batch = json.loads(req.body)
            bodies.append([e["event"] + str(e["data"].get("n", "")) for e in batch])
            if len(bodies) == 1:
                release.wait(10)
            ids = list(range(len(batch)))
            req.reply(201, json.dumps({"ids": ids}).encode())

        stub = s.Stub(handle)
        self.addCleanup(stub.close)
        self.addCleanup(release.set)
        p = Publisher("agents/bounded", url=stub.url, token="t", max_queued=3)
        p.send("a")
        s.eventually(lambda: len(bodies) == 1, what="the first request")
        p.send("progress", n=1)
        p.send("progress", n=2)
        p.send("b")
        p.send("c")  # no room: progress 1 goes
        p.send("d")  # progress 2 goes
        self.assertEqual(p.dropped, 2)
        sending = threading.Thread(target=p.send, args=("e",), daemon=True)
        sending.start()
        sending.join(0.3)
        self.assertTrue(sending.is_alive(), "send() should wait for room")
        self.assertEqual(p.pending, 4)  # a in flight, b c d waiting
        release.set()
        sending.join(5)
        p.close(timeout=5)
        self.assertEqual(sum(bodies, []), ["a", "b", "c", "d", "e"])
        self.assertEqual(p.pending, 0)


if __name__ == "__main__":
    unittest.main()
