"""Time from page request to all three SPOG panels visible, in a real Voilà + Debian chromium.

Usage::

    .venv/bin/python benchmarks/spog.py                  # builds a default demo store in a temp dir
    .venv/bin/python benchmarks/spog.py --data-dir DIR   # an existing store (read only)

Prints, for a cold kernel (``--no-preheat``: kernel start included) and a preheated one
(``--preheat``: the kernel warmed up before the request, the data still read at request time),
the seconds from ``page.goto`` to the kill-switch, the chain badge and the run total all visible,
plus the in-process time of one data load (``load_spog``, which includes a full verification).
Targets (issue 6): <= 4 s; without a preheated kernel < 8 s. Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import browser_page, voila_app  # noqa: E402

from govlib.analysis.executive import load_spog  # noqa: E402
from govlib.store.database import Store  # noqa: E402

PAGE = "/voila/render/executive_spog.ipynb"
READY = (".gl-killswitch", ".gl-chain-badge", ".gl-run-total")


def build_demo(data_dir: Path) -> None:
    argv = [sys.executable, "-m", "govlib", "demo", "--data-dir", str(data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"govlib demo failed ({done.returncode}):\n{done.stderr[-2000:]}")


def time_page(base: str, repeats: int, settle_s: float) -> list[float]:
    """Seconds from request to the three panels visible, one fresh browser page per repeat."""
    out = []
    with browser_page(1280, 800) as (page, net):
        for _ in range(repeats):
            time.sleep(settle_s)  # let a preheated pool refill between requests
            start = time.perf_counter()
            page.goto(base + PAGE, wait_until="commit", timeout=120_000)
            for css in READY:
                page.wait_for_selector(css, state="visible", timeout=120_000)
            out.append(time.perf_counter() - start)
            page.goto("about:blank")
        if net.external:
            print(f"  WARNING: off-machine requests: {net.external}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds for the preheated pool to warm up"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            t = time.perf_counter()
            build_demo(data_dir)
            print(f"govlib demo (default data): {time.perf_counter() - t:.1f} s")
        with Store(data_dir, create=False, readonly=True) as store:
            loads = []
            for _ in range(3):
                t = time.perf_counter()
                data = load_spog(store)
                loads.append(time.perf_counter() - t)
            print(
                f"load_spog in process: median {statistics.median(loads):.2f} s "
                f"({data['chain']['entries']} WORM entries verified)"
            )
        for preheat in (False, True):
            label = "preheated kernel" if preheat else "cold kernel (no preheat)"
            target = 4.0 if preheat else 8.0
            with voila_app(data_dir, preheat=preheat) as base:
                times = time_page(base, args.repeats, args.settle if preheat else 0.0)
            shown = ", ".join(f"{x:.2f}" for x in times)
            print(
                f"{label}: request -> three panels visible: median "
                f"{statistics.median(times):.2f} s (runs: {shown}; target <= {target:.0f} s)"
            )


if __name__ == "__main__":
    main()
