"""``govlib watch`` and ``govlib alerts …``: the alerting verbs (a thin click shell)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click

from govlib.cli.main import PathArg, clean_errors, data_dir_option
from govlib.cli.terminal import terminal_safe
from govlib.errors import GovlibError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_KINDS_HELP = "kill_switch,chain,drift,pill,sampling,backlog,budget,ingest"


def parse_every(text: str) -> float:
    """``10s`` / ``500ms`` / ``2m`` / ``1h`` / ``10`` -> seconds.

    Example:
        >>> parse_every("10s"), parse_every("500ms"), parse_every("2m")
        (10.0, 0.5, 120.0)
    """
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise GovlibError(f"--every: {text!r} is not a duration; expected e.g. 10s, 500ms, 2m")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale


def _open(data_dir: Path | None) -> Any:
    from govlib.store.database import Store
    from govlib.store.datadir import existing_store_dir

    return Store(existing_store_dir(data_dir, writable=True), create=False)


def start_watch(data_dir: Path) -> subprocess.Popen[bytes]:
    """`govlib watch` as a child process (for `govlib serve --watch`)."""
    argv = [sys.executable, "-m", "govlib", "watch", "--data-dir", str(data_dir)]
    return subprocess.Popen(argv, start_new_session=True)


def stop_watch(proc: subprocess.Popen[bytes]) -> None:
    """Stop the child watch (SIGTERM: it records what it delivered; SIGKILL after 30 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@click.command()
@data_dir_option
@click.option(
    "--every", default=None, help="Time between two looks (default: alert_watch_every_s)."
)
@clean_errors
def watch(data_dir: Path | None, every: str | None) -> None:
    """Follow the store and send alerts (kill-switch, chain, drift, pills, budgets, …).

    Runs until stopped (Ctrl+C or SIGTERM); alerts not yet delivered are delivered after a
    restart.

    Example:

        govlib watch --every 10s
    """
    from govlib.alerts.watch import Watcher, single_watch

    with _open(data_dir) as store, single_watch(store.data_dir):
        watcher = Watcher(store)
        every_s = parse_every(every) if every else float(watcher.settings.alert_watch_every_s)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"govlib watch: following {store.data_dir} every {every_s:g} s", err=True)
        try:
            watcher.run(every_s, stop)
        except KeyboardInterrupt:
            stop.set()


@click.group()
def alerts() -> None:
    """Manage alert destinations and see recent alerts.

    Example:

        govlib alerts list
    """


def _on(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [k.strip() for k in value.split(",") if k.strip()]


def _add(data_dir: Path | None, dest: dict[str, Any]) -> None:
    from govlib.alerts.config import add_destination

    with _open(data_dir) as store:
        directory = store.data_dir
    added = add_destination(directory, {k: v for k, v in dest.items() if v is not None})
    click.echo(terminal_safe(f"Added {added['type']} destination {added['id']}: {_where(added)}"))


def _where(dest: dict[str, Any]) -> str:
    if dest.get("type") == "email":
        tls = " (STARTTLS)" if dest.get("starttls") else ""
        return f"{dest.get('address')} via {dest.get('smtp')}{tls}"
    return str(dest.get("url"))


@alerts.group("add")
def alerts_add() -> None:
    """Add a destination (webhook, slack, teams, email)."""


_on_option = click.option(
    "--on", "on", default=None, help=f"Alert kinds it receives ({_KINDS_HELP})."
)
_owner_option = click.option(
    "--owner",
    "owners",
    multiple=True,
    help="Only tool alerts of tools this owner owns (repeatable).",
)


@alerts_add.command("webhook")
@data_dir_option
@click.argument("url")
@click.option(
    "--secret-file",
    type=PathArg(exists=True),
    required=True,
    help="File holding the shared secret.",
)
@_on_option
@_owner_option
@clean_errors
def add_webhook(
    data_dir: Path | None, url: str, secret_file: Path, on: str | None, owners: tuple[str, ...]
) -> None:
    """Add a signed generic webhook (X-Govlib-Signature over timestamp + body).

    Example:

        govlib alerts add webhook https://hooks.example/govlib --secret-file hook.secret --on kill_switch,chain
    """
    dest = {"type": "webhook", "url": url, "secret_file": str(Path(secret_file).resolve())}
    _add(data_dir, dest | {"on": _on(on), "owners": list(owners) or None})


@alerts_add.command("slack")
@data_dir_option
@click.argument("url")
@_on_option
@_owner_option
@clean_errors
def add_slack(data_dir: Path | None, url: str, on: str | None, owners: tuple[str, ...]) -> None:
    """Add a Slack incoming webhook.

    Example:

        govlib alerts add slack https://hooks.slack.com/services/T000/B000/XXXX
    """
    _add(data_dir, {"type": "slack", "url": url, "on": _on(on), "owners": list(owners) or None})


@alerts_add.command("teams")
@data_dir_option
@click.argument("url")
@_on_option
@_owner_option
@clean_errors
def add_teams(data_dir: Path | None, url: str, on: str | None, owners: tuple[str, ...]) -> None:
    """Add a Microsoft Teams incoming webhook.

    Example:

        govlib alerts add teams https://example.webhook.office.com/webhookb2/XXXX
    """
    _add(data_dir, {"type": "teams", "url": url, "on": _on(on), "owners": list(owners) or None})


@alerts_add.command("email")
@data_dir_option
@click.argument("address")
@click.option("--smtp", required=True, help="SMTP server as HOST:PORT.")
@click.option("--starttls", is_flag=True, help="Upgrade the connection with STARTTLS.")
@_on_option
@_owner_option
@clean_errors
def add_email(
    data_dir: Path | None,
    address: str,
    smtp: str,
    starttls: bool,
    on: str | None,
    owners: tuple[str, ...],
) -> None:
    """Add an e-mail destination (plain-text and HTML body; sender/login from settings).

    Example:

        govlib alerts add email cro@example.com --smtp mail.example.com:587 --starttls
    """
    dest = {"type": "email", "address": address, "smtp": smtp, "starttls": starttls}
    _add(data_dir, dest | {"on": _on(on), "owners": list(owners) or None})


@alerts.command("remove")
@data_dir_option
@click.argument("dest_id", metavar="ID")
@clean_errors
def alerts_remove(data_dir: Path | None, dest_id: str) -> None:
    """Remove a destination by its id (see `govlib alerts list`).

    Example:

        govlib alerts remove d2
    """
    from govlib.alerts.config import remove_destination

    with _open(data_dir) as store:
        directory = store.data_dir
    removed = remove_destination(directory, dest_id)
    click.echo(
        terminal_safe(f"Removed {removed.get('type')} destination {dest_id}: {_where(removed)}")
    )


@alerts.command("list")
@data_dir_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@clean_errors
def alerts_list(data_dir: Path | None, limit: int) -> None:
    """Show the destinations (with their ids) and the recent alerts with their delivery state.

    Example:

        govlib alerts list
    """
    from govlib.analysis.alerting import recent_alerts
    from govlib.settings import load_settings

    with _open(data_dir) as store:
        settings = load_settings(store.data_dir)
        rows = recent_alerts(store, limit=limit)
    dests = [d for d in settings.alert_destinations if isinstance(d, dict)]
    click.echo(
        "Destinations:" if dests else "Destinations: none (add one with `govlib alerts add`)"
    )
    for d in dests:
        kinds = ",".join(d.get("on") or []) or "all"
        owners = f" owners {','.join(d['owners'])}" if d.get("owners") else ""
        click.echo(
            terminal_safe(
                f"  {d.get('id')}  {str(d.get('type')):<7} {_where(d)}  on {kinds}{owners}"
            )
        )
    click.echo("Recent alerts:" if rows else "Recent alerts: none")
    for r in rows:
        seq = f" WORM #{r['worm_seq']}" if r["worm_seq"] else ""
        line = (
            f"  {r['created_at'][:19]}  {r['alert_id']}  {r['name']:<22} -> {r['destination_id']}: "
            f"{r['state']} ({r['attempts']} attempts){seq}"
        )
        click.echo(terminal_safe(line))


@alerts.command("test")
@data_dir_option
@click.argument("dest_id", metavar="ID")
@clean_errors
def alerts_test(data_dir: Path | None, dest_id: str) -> None:
    """Send a test alert to one destination now (exit 1 when it was not delivered).

    Example:

        govlib alerts test d1
    """
    from govlib.alerts.watch import send_test

    with _open(data_dir) as store:
        result = send_test(store, dest_id)
    if result["state"] == "sent":
        click.echo(f"Test alert {result['alert_id']} delivered to {dest_id}.")
        return
    click.echo(terminal_safe(f"Test alert to {dest_id} not delivered: {result['error']}"), err=True)
    raise SystemExit(1)


@alerts.command("check-heartbeat")
@data_dir_option
@clean_errors
def alerts_check_heartbeat(data_dir: Path | None) -> None:
    """Alert every destination when `govlib watch` stopped looking (exit 1 then; cron-able).

    Example:

        govlib alerts check-heartbeat
    """
    from govlib.alerts.watch import check_heartbeat

    with _open(data_dir) as store:
        alert = check_heartbeat(store)
    if alert is None:
        click.echo("govlib watch is alive.")
        return
    click.echo(terminal_safe(alert.summary), err=True)
    raise SystemExit(1)
