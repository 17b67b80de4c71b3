"""`govlib watch`: follow the store, raise alerts on changes, deliver them reliably.

One *look* reads the store (kill-switch events since the cursor, the chain since the last
verified entry, each tool's drift badge, pills and sampling level, the review backlog, today's
spend), turns what changed into alerts (:func:`govlib.alerts.rules.evaluate`: one per condition
change, hold-down, quiet hours) and writes them to the outbox together with the new cursor in
one transaction. Delivery runs beside it: each destination in its own worker thread, so a slow or
unreachable destination never holds back another; results are recorded by the watch's thread.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govlib.alerts import outbox, signals
from govlib.alerts.destinations import DeliveryError, deliver, wants
from govlib.alerts.rules import (
    Alert,
    AlertRuleError,
    Condition,
    alert_id,
    evaluate,
    in_quiet_hours,
    parse_quiet_hours,
)
from govlib.analysis.trust import verified_state
from govlib.clock import iso
from govlib.errors import GovlibError
from govlib.settings import Settings, load_settings
from govlib.store.database import Store

__all__ = [
    "FAULT_ENV",
    "Watcher",
    "check_heartbeat",
    "deliver_pending",
    "send_test",
    "routed",
    "single_watch",
]

#: Crash-test hook: ``kill_after_send`` kills the process between a delivery and its record.
FAULT_ENV = "GOVLIB_ALERT_FAULT"

#: The lock file one running watch holds in the data dir.
WATCH_LOCK = "watch.lock"

#: Alert kinds every destination receives whatever its ``on`` list says.
ALWAYS = frozenset({"test", "heartbeat"})


def routed(destinations: list[Mapping[str, Any]], alert: Alert) -> list[str]:
    """Ids of the destinations that take this alert (kind subscribed, owner matching).

    Example:
        >>> a = Alert("x", "drift", "drift_drift", "drift:ocr", "s", "", {}, "t", owner="ann")
        >>> routed([{"id": "d1", "on": ["drift"], "owners": ["bob"]},
        ...         {"id": "d2", "on": ["drift"]}, {"id": "d3", "on": ["chain"]}], a)
        ['d2']
    """
    out = []
    for dest in destinations:
        if alert.kind not in ALWAYS and not wants(dest, alert.kind):
            continue
        owners = dest.get("owners") or []
        if alert.owner and owners and alert.owner not in owners:
            continue
        out.append(str(dest["id"]))
    return out


def _kill_switch_alert(event: Mapping[str, Any], settings: Settings) -> Alert:
    triggered = event["state"] == "triggered"
    name = "kill_switch_triggered" if triggered else "kill_switch_reset"
    if triggered:
        summary = (
            f"The kill-switch was TRIGGERED at {event['at']}: {event['reason']}. Every governed "
            "call is refused until someone resets it."
        )
    else:
        summary = f"The kill-switch was reset at {event['at']}: {event['reason']}. Calls run again."
    query = {"run": str(event["run_id"])} if event.get("run_id") else {}
    return Alert(
        alert_id("kill_switch", f"event:{event['id']}", str(event["at"])),
        "kill_switch",
        name,
        "kill_switch",
        summary,
        signals.page_url(settings, signals.EXECUTIVE_PAGE, **query),
        {"worm_seq": event["worm_seq"], "mac": event["mac"], "rule": event["rule"]},
        iso(datetime.now(UTC)),
    )


@dataclass(frozen=True)
class _Observation:
    """What one look read: the conditions, the chain anchor and full-verify record to keep."""

    moment: datetime
    conditions: list[Condition]
    anchor: dict[str, Any] | None
    full: dict[str, Any] | None


class Watcher:
    """The watch over one store: :meth:`look` raises, :meth:`deliver_round` delivers.

    Parameters
    ----------
    store
        The store (opened for writing: the outbox, the cursor and the WORM entries go there).
    settings
        Fixed settings; default: reloaded from the data dir at every look (so destinations
        added with `govlib alerts add` are used without a restart).
    send
        The delivery function (default :func:`govlib.alerts.destinations.deliver`).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        *,
        send: Callable[[Mapping[str, Any], Mapping[str, Any], Settings], None] = deliver,
    ) -> None:
        self.store = store
        self._fixed = settings
        self.settings = settings or load_settings(store.data_dir)
        self._send = send
        self._pool = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="govlib-alert")
        self._jobs: dict[str, cf.Future[list[tuple[dict[str, Any], str | None]]]] = {}
        self.raised = 0
        self.failures = 0

    # --- looking ---------------------------------------------------------------------------
    def _destinations(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.settings.alert_destinations if isinstance(d, Mapping)]

    def _reload(self) -> None:
        if self._fixed is None:
            self.settings = load_settings(self.store.data_dir)

    def look(self, now: datetime | None = None) -> list[Alert]:
        """Read the store once and put every alert it raises in the outbox (returned)."""
        self._reload()
        return self._apply(self._observe(self.store, now or datetime.now(UTC)))

    def _observe(self, store: Store, moment: datetime) -> _Observation:
        """Every condition but the kill-switch, read from ``store`` (no write: it may be a
        read-only connection of a worker thread, so a slow look never delays a kill-switch)."""
        st = self.settings
        previous = outbox.get_cursor(store, "states", {})
        chain, anchor, full = self._chain(store, moment)
        conditions = [chain]
        conditions += signals.tool_conditions(store, st, previous, self._owners(store))
        conditions.append(signals.backlog_condition(store, st, moment))
        conditions += signals.budget_conditions(store, st, moment)
        return _Observation(moment, conditions, anchor, full)

    def _apply(self, seen: _Observation) -> list[Alert]:
        """Turn what was observed into alerts: outbox rows and cursor, one transaction."""
        st, moment = self.settings, seen.moment
        quiet = parse_quiet_hours(st.alert_quiet_hours)
        with self.store.transaction():
            previous = outbox.get_cursor(self.store, "states", {})
            alerts = self._kill_switch_alerts()
            changed, states = evaluate(
                seen.conditions,
                previous,
                moment,
                quiet=quiet,
                hold_down_s=float(st.alert_hold_down_s),
            )
            alerts += [a for a in changed if a.name != "sampling_settled"]
            if not in_quiet_hours(moment, quiet):  # held back: raised once they end
                alerts += self._ingest_alerts(moment)
            alerts += self._summary(moment)
            self._enqueue(alerts, moment)
            outbox.set_cursor(self.store, "states", {**previous, **states}, now=moment)
            if seen.anchor is not None:
                outbox.set_cursor(self.store, "chain_anchor", seen.anchor, now=moment)
            if seen.full is not None:
                outbox.set_cursor(self.store, "full_verify", seen.full, now=moment)
            outbox.set_cursor(
                self.store, "heartbeat", {"at": iso(moment), "host": socket.gethostname()}
            )
        outbox.give_up_overflow(self.store, int(st.alert_outbox_max))
        self.raised += len(alerts)
        return alerts

    def _enqueue(self, alerts: list[Alert], moment: datetime) -> None:
        dests = self._destinations()
        for alert in alerts:
            outbox.enqueue(self.store, alert, routed(dests, alert), now=moment)

    def look_urgent(self) -> list[Alert]:
        """Only new kill-switch events (one indexed read; a write only when there is one)."""
        last = outbox.get_cursor(self.store, "kill_switch_event_id")
        newest = self.store.query_one("SELECT MAX(id) FROM kill_switch_events")
        if newest is None or (last is not None and int(newest) <= int(last)):
            return []
        with self.store.transaction():
            alerts = self._kill_switch_alerts()
            self._enqueue(alerts, datetime.now(UTC))
        self.raised += len(alerts)
        return alerts

    def _owners(self, store: Store) -> dict[str, str]:
        """Each tool's owner: ``tool_registry.owner``, else the ``alert_tool_owners`` setting."""
        owners = self.settings.alert_tool_owners
        out = {str(k): str(v) for k, v in owners.items()} if isinstance(owners, Mapping) else {}
        return out | signals.registry_owners(store)

    def _kill_switch_alerts(self) -> list[Alert]:
        last = outbox.get_cursor(self.store, "kill_switch_event_id")
        events = signals.kill_switch_events(self.store, int(last or 0))
        if not events:
            return []
        outbox.set_cursor(self.store, "kill_switch_event_id", int(events[-1]["id"]))
        if last is None:  # first look: the current state only, never the whole history
            events = [e for e in events[-1:] if e["state"] == "triggered"]
        return [_kill_switch_alert(e, self.settings) for e in events]

    def _ingest_alerts(self, moment: datetime) -> list[Alert]:
        """One alert for every ingestion error recorded since the last one (never a storm)."""
        last = int(outbox.get_cursor(self.store, "ingest_error_id") or 0)
        rows = signals.ingest_errors(self.store, last)
        if not rows:
            return []
        outbox.set_cursor(self.store, "ingest_error_id", int(rows[-1]["id"]))
        return [signals.ingest_alert(rows, self.settings, iso(moment))]

    def _chain(
        self, store: Store, moment: datetime
    ) -> tuple[Condition, dict[str, Any] | None, dict[str, Any] | None]:
        """The chain condition: incremental from the anchor, a full verify now and then.

        Returns the condition, the new anchor (None: keep the old one) and the new full-verify
        record (None: none ran).
        """
        anchor = outbox.get_cursor(store, "chain_anchor")
        result = signals.chain_since(store, anchor)
        # The last full verify's verdict holds until the next one (a break it found stays
        # broken between two full verifies, never flaps back to "verified").
        full = outbox.get_cursor(store, "full_verify") or {}
        new_full = None
        every = float(self.settings.alert_verify_every_s)
        last_at = full.get("at")
        since = datetime.fromisoformat(last_at.replace("Z", "+00:00")) if last_at else None
        if result["ok"] and (since is None or (moment - since).total_seconds() >= every):
            state = verified_state(store, full=True)  # never from a remembered point
            full = new_full = {"at": iso(moment), "ok": bool(state["ok"])}
            full |= {"bad_seq": state.get("bad_seq"), "reason": state.get("reason")}
        if result["ok"] and full.get("ok") is False:
            result = {"ok": False, "bad_seq": full.get("bad_seq"), "reason": full.get("reason")}
        ok = bool(result["ok"])
        new_anchor = {"seq": result["seq"], "mac": result["mac"]} if ok else None
        where = f" at entry {result['bad_seq']}" if result.get("bad_seq") else ""
        summary = (
            "The evidence chain verifies again."
            if ok
            else f"The evidence chain no longer verifies{where}: {result['reason']}. "
            "Treat every page as unproven until compliance has looked."
        )
        cond = Condition(
            "chain",
            "chain",
            "intact" if ok else "broken",
            ok,
            summary,
            signals.page_url(self.settings, signals.EXECUTIVE_PAGE),
            {"bad_seq": result.get("bad_seq"), "reason": result.get("reason")},
            on_name="chain_broken",
            off_name="chain_verified",
        )
        return cond, new_anchor, new_full

    def _summary(self, moment: datetime) -> list[Alert]:
        """The daily 'alive' summary (the first one when the watch first starts)."""
        last = outbox.get_cursor(self.store, "summary_at")
        every = float(self.settings.alert_summary_every_s)
        if (
            last
            and (moment - datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds()
            < every
        ):
            return []
        outbox.set_cursor(self.store, "summary_at", iso(moment))
        counts = self.store.query(
            "SELECT state, COUNT(*) AS n FROM alert_outbox WHERE created_at >= ? GROUP BY state",
            (iso(moment.fromtimestamp(moment.timestamp() - every, UTC)),),
        )
        tally = {r["state"]: int(r["n"]) for r in counts}
        summary = (
            f"govlib watch is alive on {socket.gethostname()} and following the store. Last "
            f"{every / 3600:g} h: {tally.get('sent', 0)} alerts delivered, "
            f"{tally.get('pending', 0)} waiting, {tally.get('given_up', 0)} given up."
        )
        return [
            Alert(
                alert_id("heartbeat", "alive", iso(moment)),
                "heartbeat",
                "watch_alive",
                "heartbeat",
                summary,
                signals.page_url(self.settings, signals.EXECUTIVE_PAGE),
                tally,
                iso(moment),
            )
        ]

    # --- delivering ------------------------------------------------------------------------
    def deliver_round(self, now: datetime | None = None) -> None:
        """Record finished deliveries, then start one job per idle destination with due rows."""
        self.collect()
        by_dest: dict[str, list[dict[str, Any]]] = {}
        for row in outbox.due(self.store, now=now):
            by_dest.setdefault(row["destination_id"], []).append(row)
        dests = {str(d["id"]): d for d in self._destinations()}
        for dest_id, rows in by_dest.items():
            if dest_id in self._jobs:
                continue
            dest = dests.get(dest_id)
            if dest is None:
                for row in rows:
                    outbox.record_failure(
                        self.store,
                        row,
                        "destination removed",
                        self.settings.replace(alert_give_up_after_s=0.0),
                    )
                continue
            self._jobs[dest_id] = self._pool.submit(self._deliver_all, dest, rows, self.settings)

    def _deliver_all(
        self, dest: Mapping[str, Any], rows: list[dict[str, Any]], settings: Settings
    ) -> list[tuple[dict[str, Any], str | None]]:
        """Worker thread: send rows in order, stop at the first failure (the rest wait)."""
        done: list[tuple[dict[str, Any], str | None]] = []
        for row in rows:
            try:
                self._send(dest, json.loads(row["payload"]), settings)
            except DeliveryError as exc:
                done.append((row, str(exc)))
                break
            if os.environ.get(FAULT_ENV) == "kill_after_send":
                os.kill(os.getpid(), signal.SIGKILL)
            done.append((row, None))
        return done

    def collect(self, *, wait: bool = False) -> int:
        """Record the results of finished delivery jobs (all of them with ``wait``)."""
        recorded = 0
        for dest_id, job in list(self._jobs.items()):
            if not (wait or job.done()):
                continue
            del self._jobs[dest_id]
            for row, error in job.result():
                if error is None:
                    outbox.record_sent(self.store, row)
                else:
                    outbox.record_failure(self.store, row, error, self.settings)
                recorded += 1
        return recorded

    def run(
        self, every_s: float, stop: threading.Event | None = None, *, ticks: int | None = None
    ) -> None:
        """Look every ``every_s`` seconds and deliver in between until ``stop`` is set.

        A file store is read by a worker thread on its own read-only connection (a full verify
        of a large store takes seconds); meanwhile this thread checks for kill-switch events
        and delivers every 0.2 s, so a trigger is never queued behind a slow look.
        """
        stop = stop or threading.Event()
        observer = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="govlib-watch-look")
        pending: cf.Future[_Observation] | None = None
        next_look, looked = 0.0, 0
        try:
            while not stop.is_set():
                self._guarded(self.look_urgent)
                if pending is not None and pending.done():
                    self._guarded(lambda job=pending: self._apply(job.result()))
                    pending, looked = None, looked + 1
                    next_look = time.monotonic() + every_s
                if pending is None and time.monotonic() >= next_look:
                    if ticks is not None and looked >= ticks:
                        break
                    pending = self._start_look(observer)
                    if pending is None:  # looked in this thread (an in-memory store)
                        looked, next_look = looked + 1, time.monotonic() + every_s
                self._guarded(self.deliver_round)
                stop.wait(0.2)
        finally:
            observer.shutdown(wait=True)
            self.collect(wait=True)
            self._pool.shutdown(wait=True)

    def _start_look(self, observer: cf.ThreadPoolExecutor) -> cf.Future[_Observation] | None:
        if not self._guarded(self._reload):
            return None
        moment = datetime.now(UTC)
        if self.store.data_dir is None:
            self._guarded(lambda: self._apply(self._observe(self.store, moment)))
            return None
        return observer.submit(self._observe_apart, moment)

    def _observe_apart(self, moment: datetime) -> _Observation:
        reader = Store(self.store.data_dir, create=False, readonly=True)
        try:
            return self._observe(reader, moment)
        finally:
            reader.close()

    def _guarded(self, step: Callable[[], Any]) -> bool:
        """Run one step; a failure (a store busy or briefly unreadable) is reported, never
        fatal: the next look sees the same changes, since the cursor moves only on commit."""
        try:
            step()
        except (GovlibError, sqlite3.Error, OSError) as exc:
            self.failures += 1
            print(f"govlib watch: {exc}; retrying", file=sys.stderr, flush=True)
            if os.environ.get("GOVLIB_ALERT_DEBUG"):
                traceback.print_exc()
            return False
        except Exception:  # noqa: BLE001 - a watch that dies silently alerts nobody: say, go on
            self.failures += 1
            print("govlib watch: unexpected failure; retrying", file=sys.stderr, flush=True)
            traceback.print_exc()
            return False
        return True

    def close(self) -> None:
        """Wait for running deliveries and record them."""
        self.collect(wait=True)
        self._pool.shutdown(wait=True)


@contextlib.contextmanager
def single_watch(data_dir: Path | None) -> Iterator[None]:
    """Hold ``DIR/watch.lock`` while a watch runs: a second watch on the same store is refused
    (two would raise the same changes twice, under different ids)."""
    if data_dir is None:
        yield
        return
    path = Path(data_dir) / WATCH_LOCK
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise GovlibError(
                f"{path}: govlib watch is already running on this store ({holder}); "
                "expected one watch per store"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def deliver_pending(
    store: Store, settings: Settings | None = None, now: datetime | None = None
) -> None:
    """One delivery round of everything due, waited for (for `check-heartbeat` and `test`)."""
    watcher = Watcher(store, settings)
    try:
        watcher.deliver_round(now)
    finally:
        watcher.close()


def check_heartbeat(
    store: Store, settings: Settings | None = None, now: datetime | None = None
) -> Alert | None:
    """An alert (queued and delivered) when `govlib watch` last looked too long ago; else None."""
    st = settings or load_settings(store.data_dir)
    moment = now or datetime.now(UTC)
    beat = outbox.get_cursor(store, "heartbeat")
    last = datetime.fromisoformat(beat["at"].replace("Z", "+00:00")) if beat else None
    age = None if last is None else (moment - last).total_seconds()
    if age is not None and age <= float(st.alert_heartbeat_stale_s):
        return None
    since = (
        "never ran on this store"
        if last is None
        else f"last looked at {beat['at']} ({age:.0f} s ago)"
    )
    alert = Alert(
        alert_id("heartbeat", "silent", beat["at"] if beat else "never"),
        "heartbeat",
        "watch_silent",
        "heartbeat",
        f"govlib watch is not running: it {since}. Alerts are not being raised.",
        signals.page_url(st, signals.EXECUTIVE_PAGE),
        {
            "last_heartbeat": beat["at"] if beat else None,
            "stale_after_s": st.alert_heartbeat_stale_s,
        },
        iso(moment),
    )
    dests = [dict(d) for d in st.alert_destinations if isinstance(d, Mapping)]
    outbox.enqueue(store, alert, routed(dests, alert), now=moment)
    deliver_pending(store, st, moment)
    return alert


def send_test(store: Store, dest_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Send a test alert to one destination now; its outbox row afterwards (state, error)."""
    st = settings or load_settings(store.data_dir)
    if dest_id not in {str(d.get("id")) for d in st.alert_destinations}:
        known = ", ".join(str(d.get("id")) for d in st.alert_destinations) or "none"
        raise AlertRuleError(f"ID: {dest_id!r} is not a destination; expected one of {known}")
    moment = datetime.now(UTC)
    alert = Alert(
        alert_id("test", dest_id, iso(moment)),
        "test",
        "test",
        "test",
        f"Test alert from govlib to destination {dest_id}: if you read this, alerts reach you.",
        signals.page_url(st, signals.EXECUTIVE_PAGE),
        {},
        iso(moment),
    )
    outbox.enqueue(store, alert, [dest_id], now=moment)
    deliver_pending(store, st)
    row = store.query_one(
        "SELECT state FROM alert_outbox WHERE alert_id = ? AND destination_id = ?",
        (alert.alert_id, dest_id),
    )
    error = store.query_one(
        "SELECT last_error FROM alert_outbox WHERE alert_id = ? AND destination_id = ?",
        (alert.alert_id, dest_id),
    )
    return {"alert_id": alert.alert_id, "state": row, "error": error}
