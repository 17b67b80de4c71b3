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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from govlib.demo.claimsflow import run_scenario
from govlib.demo.claimsflow.history import generate_history, parse_as_of
from govlib.errors import GovlibError
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch
from govlib.store.database import Store
from govlib.store.datadir import prepare_fresh

__all__ = ["DemoError", "Progress", "build_demo"]


class DemoError(GovlibError):
    """The demo store could not be built or does not verify."""


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
        The seeded history: ``history_days`` days ending at ``as_of`` (default: the start of the
        current hour, UTC).
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
        When the finished store does not verify.

    Example:
        >>> # build_demo("data", history_days=30)["lines"][-1]
        >>> # 'Done in 21.4 s (history 14.9 s, live 0.2 s, export 4.1 s, verify 1.3 s)'
    """
    started = time.perf_counter()
    path = Path(data_dir)
    end = parse_as_of(as_of)
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
            f"History: {history_days} days to {end:%Y-%m-%d %H:%M} UTC (seed {seed}): "
            f"{history.runs:,} runs ({counts or 'none'}), {history.trips} kill-switch trips, "
            f"{history.resets} resets, {history.verdicts:,} verdicts"
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
        f"Totals: {totals['runs']:,} runs, {totals['calls']:,} tool calls, "
        f"{totals['model_calls']:,} model calls costing USD {totals['cost_usd']:,.2f}, "
        f"{totals['verdicts']:,} verdicts",
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
