"""A toy agent that reports its work to cortex-stream, and a watcher that follows it.

With a server running (`CORTEX_TOKEN=dev-secret bun run start` in a clone of cortex-stream):

    CORTEX_TOKEN=dev-secret python3 clients/python/examples/agent.py [agent-name]

The agent runs on the main thread; the watcher prints each event it sees, until `complete`.
clients/python/README.md quotes this file, and clients/python/tests/test_example.py runs it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

# Run from a clone without installing the package: it is the folder above this one.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cortex_stream import CortexError, publish  # for the examples further down
from cortex_stream import Publisher, subscribe


def agent(name: str, files: list) -> None:
    with Publisher(f"agents/{name}") as p:  # complete at the end; failed if the block raises
        for i, path in enumerate(files):
            p.progress(message=f"Reading {path}", progress=i / len(files))
            time.sleep(0.1)  # the real work
        p.result = {"files": len(files)}


def watch(name: str) -> None:
    for e in subscribe(f"agents/{name}"):  # resumes by itself; ends after complete
        print(e.id, e.event, e.data, flush=True)


def workflow(run_id: str) -> None:
    publish(f"workflows/{run_id}", {"event": "step_start", "data": {"stepId": "lint"}})
    result = publish(f"workflows/{run_id}", [
        {"event": "step_complete", "data": {"stepId": "lint", "duration": 1200}},
        {"event": "complete", "data": {"result": "ok"}},
    ])
    print(result.ids)  # [2, 3]: durable, they survive a crash of the server from here on
    for e in subscribe(f"workflows/{run_id}", last_event_id=1):  # the events after id 1
        print(e.id, e.event, e.data)


def careful_agent(name: str, steps: list) -> None:
    with Publisher(f"agents/{name}") as p:
        for step in steps:
            if p.cancel_requested:  # someone asked to stop (the dashboard's Cancel)
                p.send("cancelled", {"reason": p.cancel_requested.reason or "cancel requested"})
                return
            p.progress(message=step)
            time.sleep(0.3)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else f"example-{uuid.uuid4().hex[:8]}"
    watcher = threading.Thread(target=watch, args=(name,), daemon=True)
    watcher.start()
    try:
        agent(name, ["README.md", "docs/api.md", "src/main.ts"])
    except CortexError as e:  # refused, or the server could not be reached for 30 s
        sys.exit(f"cortex-stream: {e}")
    watcher.join(10)
