"""`govlib watch` cost per look and kill-switch alert latency, on a demo store.

Run: ``.venv/bin/python benchmarks/alerts.py [--history-days 10] [--looks 10]``. Prints figures.

A demo store is built in a temporary folder (seeded history, live runs), a slack-style
destination pointed at a loopback HTTP receiver. Printed: the audit rows and WORM entries in the
store, the first look (a full ``verify`` plus tool statistics), the median and max of the next
looks (incremental chain check, tool statistics over every live call), and the delay from a
kill-switch trigger to the receiver getting the alert through a ``govlib watch --every 1s``
process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from govlib.alerts.watch import Watcher
from govlib.demo.builder import build_demo
from govlib.governance.killswitch import KillSwitch
from govlib.settings import load_settings
from govlib.store.database import Store


def _receiver() -> tuple[ThreadingHTTPServer, list[float]]:
    received: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if b"kill_switch_triggered" in body:
                received.append(time.time())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history-days", type=int, default=10)
    parser.add_argument("--looks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        build_demo(data, history_days=args.history_days)
        server, received = _receiver()
        url = f"http://127.0.0.1:{server.server_address[1]}/x"
        (data / "govlib.json").write_text(
            json.dumps({"alert_destinations": [{"id": "s", "type": "slack", "url": url}]})
        )
        with Store(data) as store:
            rows, entries = store.count("audit_log"), store.count("worm_log")
            watcher = Watcher(store, load_settings(data))
            t0 = time.perf_counter()
            watcher.look()
            first = time.perf_counter() - t0
            times = []
            for _ in range(args.looks):
                t0 = time.perf_counter()
                watcher.look()
                times.append(time.perf_counter() - t0)
            watcher.close()
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "govlib", "watch", "--every", "1s", "--data-dir", str(data)]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        time.sleep(3)
        with Store(data) as store:
            KillSwitch(store).trigger("Bench", "latency probe")
            triggered = time.time()
        while not received and time.time() - triggered < 30:
            time.sleep(0.05)
        proc.terminate()
        proc.wait()
        server.shutdown()
    print(f"store: {rows:,} tool calls, {entries:,} WORM entries ({args.history_days} days)")
    print(f"first look (full verify + tool statistics): {first:.2f} s")
    print(
        f"next {args.looks} looks: median {statistics.median(times):.3f} s, max {max(times):.3f} s"
    )
    if received:
        print(f"kill-switch trigger -> alert at the receiver: {received[0] - triggered:.2f} s")
    else:
        print("kill-switch alert not received within 30 s")


if __name__ == "__main__":
    main()
