"""Page times of `govlib serve` in a room: a real `govlib serve`, real kernels, Debian chromium.

Usage::

    .venv/bin/python benchmarks/pages.py                  # builds a demo store in a temp dir
    .venv/bin/python benchmarks/pages.py --data-dir DIR   # an existing store (read only)
    .venv/bin/python benchmarks/pages.py --rows 1000000   # 1M audit rows: lake + live tail
    .venv/bin/python benchmarks/pages.py --rows 1000000 --data-dir DIR --build-only  # keep it

``--rows N`` builds the store with the retention benchmark's writers (``govlib.demo.bulk``):
N content-free tool calls over 30 days, exported to the Parquet lake (``govlib export``), then
three days of ClaimsFlow history as the live SQLite tail and a signed checkpoint. With
``--data-dir`` it is built there (when the directory holds no store yet) and kept.

Prints (issue 16's Targets; nothing is asserted):

1. first page after `govlib serve` starts: seconds from the start of `govlib serve` to Voila
   answering, then from the first request to content visible, executive page then SPC dashboard;
2. warm (pools settled): median of ``--repeats`` loads per app, with a cold browser cache (a new
   browser context per load) and a warm one (one context; its first load primes the cache);
3. ten tabs opened at once on the executive page (default kernel bound): seconds until every tab
   shows the page or the "busy, retry" page, how many of each; kernels left 60 s (the
   ``kernel_closed_tab_s`` default) after the tabs close;
4. peak RSS (VmHWM) of the app kernels after first paint.

Two times per load: **first paint**, the page's content as the server wrote it into the HTML
(``.gl-first-paint-host``, drawn before any JavaScript runs), and **live widgets**: executive =
kill-switch, chain badge and run total visible; SPC = the first tool row of Tool stats visible. Playwright disables the HTTP cache while request routing is on, so
these runs route nothing (tests/test_serve_apps.py counts off-machine requests: 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness import CHROMIUM, CHROMIUM_ARGS, free_port, require_browser  # noqa: E402

APPS = {
    "executive": (
        "/voila/render/executive_spog.ipynb",
        (".gl-killswitch", ".gl-chain-badge", ".gl-run-total"),
    ),
    "spc": ("/voila/render/spc_dashboard.ipynb", (".spc-stats-tool .spc-stat-row",)),
}
TIMEOUT_MS = 120_000


def build_demo(data_dir: Path) -> None:
    argv = [sys.executable, "-m", "govlib", "demo", "--data-dir", str(data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"govlib demo failed ({done.returncode}):\n{done.stderr[-2000:]}")


def build_rows(data_dir: Path, rows: int) -> None:
    """``rows`` bulk audit rows exported to the lake, then a live tail of ClaimsFlow history."""
    from datetime import date, timedelta

    from govlib.analysis.export import export_lake
    from govlib.demo.bulk import bulk_history
    from govlib.demo.claimsflow.history import generate_history
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.store.database import Store

    as_of, tail_days, bulk_days = "2026-11-20T10:00:00Z", 3, 30
    first = date.fromisoformat(as_of[:10]) - timedelta(days=tail_days + bulk_days)
    started = time.perf_counter()
    with Store(data_dir) as store:
        bulk_history(
            store, first_day=first, days=bulk_days, calls_per_day=max(1, rows // bulk_days)
        )
    export_lake(data_dir)
    with Store(data_dir) as store:
        generate_history(store, days=tail_days, as_of=as_of, seed=7)
        sign_checkpoint(store)
        audit, entries = store.count("audit_log"), store.count("worm_log")
    took = time.perf_counter() - started
    print(f"store built in {took:.0f} s: {audit:,} audit rows, {entries:,} WORM entries")


def start_serve(data_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """`govlib serve` in its own process group; returns it and seconds until Voila answers."""
    argv = [sys.executable, "-m", "govlib", "serve", "--data-dir", str(data_dir)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "--port", str(port)],
        stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while True:
        if proc.poll() is not None:
            sys.exit(f"govlib serve exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=2
            ):
                return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.1)


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kernels(data_dir: Path) -> list[int]:
    marker = f"GOVLIB_DATA_DIR={data_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    b"ipykernel_launcher" in (entry / "cmdline").read_bytes()
                    and marker in (entry / "environ").read_bytes()
                ):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


#: The server-rendered first paint (govlib/apps/first_paint.py): its host holds a closed shadow
#: root, so selectors cannot look inside; the page itself notes when the host (or the live page)
#: is in the document and the next frame has been painted, on its own clock (navigation start).
FIRST_PAINT = ".gl-first-paint-host"
PAINT_CLOCK = """
window.__govlib_paint = {};
new MutationObserver(() => {
  const t = window.__govlib_paint;
  const live = document.querySelector('.gl-live');
  if (t.content === undefined && (document.querySelector('FIRST_PAINT') || (live && live.offsetHeight))) {
    t.content = -1;
    requestAnimationFrame(() => { t.content = performance.now(); });
  }
}).observe(document, {subtree: true, childList: true});
""".replace("FIRST_PAINT", FIRST_PAINT)


def load(page: object, url: str, ready: tuple[str, ...]) -> tuple[float, float]:
    """Seconds from navigation start to (first paint drawn, live widgets visible).

    The first paint is the page's content in the server's HTML, drawn before any JavaScript has
    loaded; the time is the page's own (``performance.now()`` at the frame after it entered the
    document), so the test driver's polling does not add to it. Live widgets: Playwright sees
    every ``ready`` selector visible, measured from the request.
    """
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    for css in ready:
        page.locator(css).first.wait_for(state="visible", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    live = time.perf_counter() - start
    page.wait_for_function("(window.__govlib_paint || {}).content > 0", timeout=TIMEOUT_MS)  # type: ignore[attr-defined]
    painted = page.evaluate("window.__govlib_paint.content") / 1000  # type: ignore[attr-defined]
    return painted, live


def new_context(browser: object) -> object:
    """A browser context at 1280x800 whose pages note when their first paint is drawn."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    context.add_init_script(PAINT_CLOCK)  # type: ignore[attr-defined]
    return context


def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})"


def first_pages(browser: object, base: str) -> None:
    context = new_context(browser)
    page = context.new_page()
    for name, (path, ready) in APPS.items():
        painted, live = load(page, base + path, ready)
        print(f"  first {name} page: first paint {painted:.2f} s, live widgets {live:.2f} s")
    context.close()


def warm_loads(browser: object, base: str, repeats: int, settle_s: float) -> None:
    for name, (path, ready) in APPS.items():
        cold, warm = [], []
        shared = new_context(browser)
        shared_page = shared.new_page()
        load(shared_page, base + path, ready)  # primes the warm cache
        for _ in range(repeats):
            time.sleep(settle_s)
            context = new_context(browser)
            cold.append(load(context.new_page(), base + path, ready))
            context.close()
            time.sleep(settle_s)
            warm.append(load(shared_page, base + path, ready))
            shared_page.goto("about:blank")
        shared.close()
        for cache, times in (("cold", cold), ("warm", warm)):
            print(f"  {name}, {cache} browser cache, first paint: {fmt([t[0] for t in times])}")
            print(f"  {name}, {cache} browser cache, live widgets: {fmt([t[1] for t in times])}")


def ten_tabs(browser: object, base: str, data_dir: Path, tabs: int) -> None:
    path, ready = APPS["executive"]
    context = new_context(browser)
    pages = [context.new_page() for _ in range(tabs)]
    start = time.perf_counter()
    for page in pages:
        page.goto(base + path, wait_until="commit", timeout=TIMEOUT_MS)
    shown, busy = 0, 0
    either = ", ".join([*ready[-1:], ".gl-busy"])
    for page in pages:
        page.locator(either).first.wait_for(state="visible", timeout=TIMEOUT_MS)
        if page.locator(".gl-busy").count():
            busy += 1
        else:
            shown += 1
    took = time.perf_counter() - start
    print(f"  {tabs} tabs at once: all answered in {took:.1f} s ({shown} pages, {busy} busy)")
    print(f"  kernels with the tabs open: {len(kernels(data_dir))}")
    context.close()
    time.sleep(65)
    print(f"  kernels 65 s after the tabs closed: {len(kernels(data_dir))} (pools: 2 per app)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds for a pool refill")
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=0, help="bulk audit rows (lake + tail)")
    parser.add_argument("--build-only", action="store_true", help="build --rows, then stop")
    args = parser.parse_args()
    require_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        if args.rows and not (data_dir / "govlib.sqlite").exists():
            build_rows(data_dir, args.rows)
        elif args.data_dir is None:
            build_demo(data_dir)
        if args.build_only:
            return
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc, up = start_serve(data_dir, port, Path(tmp) / "serve.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                print(f"govlib serve -> Voila answering: {up:.2f} s")
                first_pages(browser, base)
                rss = [peak_rss_mb(pid) for pid in kernels(data_dir)]
                print(
                    f"  peak RSS of app kernels after first paint: max {max(rss):.0f} MB "
                    f"({len(rss)} kernels: {', '.join(f'{r:.0f}' for r in sorted(rss))})"
                )
                time.sleep(args.settle * 2)
                print(f"warm (pools settled), {args.repeats} loads per app:")
                warm_loads(browser, base, args.repeats, args.settle)
                if args.tabs > 0:  # --tabs 0 skips it
                    print("ten tabs:")
                    ten_tabs(browser, base, data_dir, args.tabs)
                browser.close()
        finally:
            stop_serve(proc)


if __name__ == "__main__":
    main()
