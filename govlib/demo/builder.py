"""``govlib demo``: a fresh store with a seeded ClaimsFlow history, then a live clean and fraud run.

Steps: wipe (or create) the data dir, run the history (:func:`govlib.demo.claimsflow.generate_history`),
run the live ``clean`` then ``fraud`` scenario on the real clock (so the most recent run is the
fraud run and the kill-switch is left triggered), sign a checkpoint, export the Parquet lake and
``govlib.duckdb``, verify the whole store, and return the summary lines the CLI prints. A phase
that runs longer than a second shows a one-line progress bar on stderr.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from govlib.bounds import latest_time
from govlib.demo.claimsflow import run_scenario
from govlib.demo.claimsflow.history import generate_history, parse_as_of
from govlib.errors import GovlibError
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch
from govlib.present.formatting import plural
from govlib.store.database import Store
from govlib.store.datadir import prepare_fresh

__all__ = [
    "DemoError",
    "Progress",
    "build_demo",
    "check_demo_options",
    "EARLIEST_AS_OF",
    "MAX_HISTORY_DAYS",
    "MAX_SEED",
]

#: The earliest ``as_of`` a demo accepts; the latest is now (plus the allowed clock skew).
EARLIEST_AS_OF = datetime(2000, 1, 1, tzinfo=UTC)
#: ``history_days`` runs from 0 (no history: only the live runs) to a leap year.
MAX_HISTORY_DAYS = 366
#: ``seed`` is a non-negative 64-bit integer.
MAX_SEED = 2**63 - 1


class DemoError(GovlibError):
    """The demo store could not be built or does not verify."""


def _whole_number(name: str, option: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise DemoError(f"{name} ({option}): {value!r}; expected a whole number from 0 to {high}")
    return value


def check_demo_options(
    history_days: object, as_of: str | date | datetime | None, seed: object
) -> datetime:
    """Check a demo's options before anything is touched; return the end of the history (UTC).

    ``history_days`` is 0..:data:`MAX_HISTORY_DAYS`, ``seed`` 0..:data:`MAX_SEED`, and
    ``as_of`` (default: the start of this hour) lies from 2000-01-01 to now (plus the allowed clock skew), with
    the history starting on 2000-01-01 or later.

    Raises
    ------
    DemoError
        Naming the option, the value and what was expected (a badly written ``as_of`` raises
        :class:`govlib.demo.claimsflow.history.HistoryError`).

    Example:
        >>> check_demo_options(30, "2026-11-20", 7).isoformat()
        '2026-11-20T00:00:00+00:00'
        >>> check_demo_options(30, "0001-01-01", 7)
        Traceback (most recent call last):
        ...
        govlib.demo.builder.DemoError: as_of (--as-of): '0001-01-01' is before 2000-01-01; expected a date from 2000-01-01 up to now
    """  # noqa: E501
    days = _whole_number("history_days", "--history-days", history_days, MAX_HISTORY_DAYS)
    _whole_number("seed", "--seed", seed, MAX_SEED)
    expected = "expected a date from 2000-01-01 up to now"
    try:
        end = parse_as_of(as_of)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise DemoError(f"as_of (--as-of): {str(as_of)!r} is out of range; {expected}") from None
    if end < EARLIEST_AS_OF:
        raise DemoError(f"as_of (--as-of): {str(as_of)!r} is before 2000-01-01; {expected}")
    latest = latest_time()  # records later than now (plus the clock skew allowed) are refused
    if end > latest:
        raise DemoError(
            f"as_of (--as-of): {str(as_of)!r} is after {latest:%Y-%m-%d %H:%M} UTC; {expected}"
        )
    start = end - timedelta(days=days)
    if start < EARLIEST_AS_OF:
        raise DemoError(
            f"as_of (--as-of) {end:%Y-%m-%d %H:%M} minus history_days (--history-days) "
            f"{days} starts the history on {start:%Y-%m-%d}; expected the history to "
            "start on 2000-01-01 or later"
        )
    return end


class Progress:
    """A one-line progress bar on stderr, shown only when a phase runs longer than ``delay_s``.

    Use as a context manager; call :meth:`update` with ``(done, total)`` when the work can count
    itself, otherwise the line shows the elapsed time only.

    Example:
        >>> with Progress("Quick step") as p:
        ...     p.update(1, 1)
        >>> round(p.elapsed, 0)
        0.0
    """

    def __init__(
        self, label: str, *, stream: IO[str] | None = None, delay_s: float = 1.0, width: int = 30
    ) -> None:
        self.label, self.delay_s, self.width = label, delay_s, width
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.total = 0
        self.elapsed = 0.0
        self._start = 0.0
        self._shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, done: int, total: int) -> None:
        """Record progress (the bar redraws on its own timer)."""
        self.done, self.total = done, total

    def _line(self) -> str:
        seconds = time.perf_counter() - self._start
        if self.total:
            filled = int(self.width * self.done / self.total)
            bar = "#" * filled + "-" * (self.width - filled)
            return f"\r{self.label} [{bar}] {self.done}/{self.total} {seconds:5.1f} s"
        return f"\r{self.label} ... {seconds:5.1f} s"

    def _tick(self) -> None:
        if self._stop.wait(self.delay_s):
            return
        isatty = getattr(self.stream, "isatty", None)
        if not (isatty and isatty()):
            # A log file or pipe gets one line per phase (at exit), not a redraw every 0.25 s.
            self._shown = True
            return
        while True:
            self.stream.write(self._line())
            self.stream.flush()
            self._shown = True
            if self._stop.wait(0.25):
                return

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._tick, name="govlib-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.elapsed = time.perf_counter() - self._start
        if self._shown:
            self.stream.write(self._line() + "\n")
            self.stream.flush()


def _export(data_dir: Path) -> str:
    try:  # deferred: the lake export loads pyarrow and DuckDB
        from govlib.analysis.export import export_lake
    except ImportError as exc:
        return f"Lake: not exported (govlib.analysis.export is not available here: {exc})"
    result = export_lake(data_dir)
    message = result.get("message") if isinstance(result, dict) else None
    return f"Lake: {message or 'exported'}"


def _totals(store: Any) -> dict[str, Any]:
    rows = store.query("SELECT status, COUNT(*) AS n FROM workflow_runs GROUP BY status")
    runs = {r["status"]: r["n"] for r in rows}
    return {
        "runs": sum(runs.values()),
        "statuses": runs,
        "calls": int(store.query_one("SELECT COUNT(*) FROM audit_log")),
        "model_calls": int(store.query_one("SELECT COUNT(*) FROM token_ledger")),
        "cost_usd": float(
            store.query_one("SELECT COALESCE(ROUND(SUM(cost_usd), 10), 0) FROM token_ledger")
        ),
        "verdicts": int(store.query_one("SELECT COUNT(*) FROM verdict_events")),
    }


def build_demo(
    data_dir: str | os.PathLike[str],
    *,
    history_days: int = 30,
    as_of: str | date | datetime | None = None,
    seed: int = 7,
    force: bool = False,
    live: bool = True,
    stream: IO[str] | None = None,
) -> dict[str, Any]:
    """Build the demo store in ``data_dir`` and return ``{"lines": [...], ...}``.

    Parameters
    ----------
    data_dir
        The data dir; wiped first when govlib made it (keys are kept), refused otherwise unless
        ``force`` (:func:`govlib.store.datadir.prepare_fresh`).
    history_days, as_of, seed
        The seeded history: ``history_days`` days (0 to 366) ending at ``as_of`` (default: the
        start of the current hour, UTC; from 2000-01-01 to now), ``seed`` 0 to
        2**63 - 1.
    live
        Run the live clean and fraud scenarios after the history (default).
    stream
        Where progress bars go (default stderr).

    Returns
    -------
    dict
        ``lines`` (the printed summary), ``elapsed_s``, ``phases`` (seconds per phase), ``runs``,
        ``calls``, ``model_calls``, ``cost_usd``, ``verdicts``, ``statuses``, ``kill_switch``,
        ``verified``, ``history`` and, with ``live``, ``clean`` and ``fraud`` (RunResults).

    Raises
    ------
    DemoError
        A bad option (:func:`check_demo_options`, checked before the data dir is touched), or
        the finished store does not verify.

    Example:
        >>> # build_demo("data", history_days=30)["lines"][-1]
        >>> # 'Done in 21.4 s (history 14.9 s, live 0.2 s, export 4.1 s, verify 1.3 s)'
    """
    started = time.perf_counter()
    end = check_demo_options(history_days, as_of, seed)  # before the data dir is touched
    path = Path(data_dir)
    prepare_fresh(path, force=force)
    phases: dict[str, float] = {}
    out: dict[str, Any] = {}
    lines = [f"govlib demo: data dir {path}"]
    with Store(path) as store:
        with Progress(f"History ({history_days} days)", stream=stream) as bar:
            history = generate_history(
                store, days=history_days, as_of=end, seed=seed, progress=bar.update
            )
        phases["history"] = bar.elapsed
        counts = ", ".join(f"{n:,} {s}" for s, n in sorted(history.statuses.items()))
        lines.append(
            f"History: {plural(history_days, 'day')} to {end:%Y-%m-%d %H:%M} UTC (seed {seed}): "
            f"{plural(history.runs, 'run')} ({counts or 'none'}), "
            f"{plural(history.trips, 'kill-switch trip')}, {plural(history.resets, 'reset')}, "
            f"{plural(history.verdicts, 'verdict')}"
        )
        if live:
            t0 = time.perf_counter()
            if end > datetime.now(UTC):
                lines.append("Note: --as-of is in the future; the live runs precede its end")
            for name in ("clean", "fraud"):
                out[name] = run_scenario(store, name)
                lines.append(f"Live {name}: {out[name].summary}")
            phases["live"] = time.perf_counter() - t0
        sign_checkpoint(store)
        totals = _totals(store)
        state = KillSwitch(store).state()
        with Progress("Exporting the lake", stream=stream) as bar:
            lines_export = _export(path)
        phases["export"] = bar.elapsed
        with Progress("Verifying the store", stream=stream) as bar:
            verified = verify_store(store)
        phases["verify"] = bar.elapsed
    lines += [
        f"Totals in the whole store: {plural(totals['runs'], 'run')}, "
        f"{plural(totals['calls'], 'tool call')}, {plural(totals['model_calls'], 'model call')} "
        f"costing USD {totals['cost_usd']:,.2f}, {plural(totals['verdicts'], 'verdict')} "
        "(the executive page's Cost Ledger counts the 30 days to the newest receipt)",
        state.describe(),
        verified.summary,
        lines_export,
    ]
    elapsed = time.perf_counter() - started
    detail = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
    lines.append(f"Done in {elapsed:.1f} s ({detail})")
    if not verified.ok:
        raise DemoError(f"{path}: the demo store does not verify: {verified.summary}")
    return {
        "lines": lines,
        "elapsed_s": elapsed,
        "phases": phases,
        **totals,
        "kill_switch": state,
        "verified": verified,
        "history": history,
        **out,
    }
