"""examples/agent.py runs against a real server, and README.md quotes it as it is."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import unittest.mock

import _support as s

EXAMPLE = os.path.join(s.PACKAGE_ROOT, "examples", "agent.py")
README = os.path.join(s.PACKAGE_ROOT, "README.md")


def load_example():
    spec = importlib.util.spec_from_file_location("cortex_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTest(s.ServerTest):
    def env(self):
        return {"CORTEX_URL": self.server.url, "CORTEX_TOKEN": self.server.token}

    def test_the_example_runs_an_agent_and_watches_it_to_its_end(self) -> None:
        run = subprocess.run(
            [sys.executable, EXAMPLE, "example"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=20,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = run.stdout.splitlines()
        self.assertEqual(lines[0], "1 progress {'message': 'Reading README.md', 'progress': 0}")
        self.assertRegex(lines[-1], r"^\d+ complete \{'duration': \d+, 'result': \{'files': 3\}\}$")
        events = self.server.events("agents/example")
        self.assertEqual(len(lines), len(events))
        self.assertEqual(events[-1]["data"]["result"], {"files": 3})

    def test_the_workflow_example_publishes_and_reads_after_an_id(self) -> None:
        example = load_example()
        out = io.StringIO()
        with unittest.mock.patch.dict(os.environ, self.env()), contextlib.redirect_stdout(out):
            example.workflow("wf-example")
        self.assertEqual(
            out.getvalue().splitlines(),
            [
                "[2, 3]",
                "2 step_complete {'stepId': 'lint', 'duration': 1200}",
                "3 complete {'result': 'ok'}",
            ],
        )

    def test_the_careful_agent_stops_when_asked(self) -> None:
        example = load_example()
        with unittest.mock.patch.dict(os.environ, self.env()):
            running = threading.Thread(
                target=example.careful_agent, args=("careful", [f"step {n}" for n in range(50)])
            )
            running.start()
            s.eventually(lambda: self.server.events("agents/careful") != [], what="a first step")
            status, _ = self.server.http("POST", "/api/agents/careful/cancel", {"reason": "stop"})
            self.assertEqual(status, 202)
            started = time.monotonic()
            running.join(5)
        self.assertFalse(running.is_alive())
        self.assertLess(time.monotonic() - started, 2)
        events = self.server.events("agents/careful")
        self.assertEqual(events[-1]["event"], "cancelled")
        self.assertEqual(events[-1]["data"], {"reason": "stop"})
        # The request, then at most the one step whose answer told of it.
        self.assertIn("cancel_requested", [e["event"] for e in events[-3:-1]])

    def test_every_python_block_of_the_readme_is_quoted_from_the_example(self) -> None:
        with open(README, encoding="utf-8") as f:
            blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
        with open(EXAMPLE, encoding="utf-8") as f:
            example = [line for line in f.read().splitlines() if line.strip()]
        self.assertGreaterEqual(len(blocks), 3)
        for block in blocks:
            # Blank lines may differ; every other line is the example's, in a row.
            quoted = [line for line in block.splitlines() if line.strip()]
            found = any(
                example[at : at + len(quoted)] == quoted
                for at in range(len(example) - len(quoted) + 1)
            )
            self.assertTrue(
                found, f"README.md quotes what examples/agent.py does not say:\n{block}"
            )


if __name__ == "__main__":
    unittest.main()
