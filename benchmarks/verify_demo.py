"""`govlib verify` on a demo store: this govlib (row bindings checked) against the release before
row bindings (commit bd028cd, taken from this repository's history), each on its own demo store.

Prints the median of N verify runs for both, their ratio (target <= 1.5x), and the cost of the
bindings pass alone.

    python benchmarks/verify_demo.py [--days 30] [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_RELEASE = "bd028cd"

_TIMED = """
import sys, time, statistics
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
import govlib
assert govlib.__file__.startswith(sys.argv[1]), govlib.__file__
data, days, runs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from pathlib import Path
if not Path(data, "govlib.sqlite").exists():
    try:
        from govlib.demo import build_demo
    except ImportError:
        from govlib.demo.builder import build_demo
    build_demo(data, history_days=days, as_of="2026-11-20T10:00:00Z", seed=7)
try:
    from govlib.verify import verify_store
    from govlib.store import Store
except ImportError:
    from govlib.evidence.verify import verify_store
    from govlib.store import Store
times = []
with Store(data, create=False, readonly=True) as store:
    for _ in range(runs):
        t0 = time.perf_counter()
        result = verify_store(store)
        times.append(time.perf_counter() - t0)
    assert result.ok, result.describe()
print(statistics.median(times), result.entries)
"""


def _unpack(commit: str, target: Path) -> Path:
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "govlib"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(target, filter="data")
    return target


def _timed(code: Path, data: Path, days: int, runs: int) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED, str(code), str(data), str(days), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), int(out[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        old = _unpack(OLD_RELEASE, base / "old")
        t0 = time.perf_counter()
        old_s, old_n = _timed(old, base / "old-data", args.days, args.runs)
        new_s, new_n = _timed(ROOT, base / "new-data", args.days, args.runs)
        built = time.perf_counter() - t0
    print(f"demo stores: {args.days} days of history each (built and verified in {built:.1f} s)")
    print(f"verify before row bindings ({OLD_RELEASE}): {old_s * 1000:.0f} ms, {old_n} entries")
    print(f"verify with row bindings (this tree):     {new_s * 1000:.0f} ms, {new_n} entries")
    print(
        f"ratio: {new_s / old_s:.2f}x (target <= 1.5x); per entry {new_s / new_n * 1e6:.1f} us "
        f"vs {old_s / old_n * 1e6:.1f} us"
    )


if __name__ == "__main__":
    main()
