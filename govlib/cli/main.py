"""``govlib`` command line: a thin click shell. Each verb opens the store and calls one function."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from govlib.cli.terminal import terminal_lines, terminal_safe
from govlib.errors import GovlibError

F = TypeVar("F", bound=Callable[..., Any])


class PathArg(click.ParamType):
    """A path taken as given (click.Path stats it and crashes on a NUL byte)."""

    name = "path"

    def __init__(self, *, exists: bool = False, what: str = "file") -> None:
        self.exists, self.what = exists, what

    def convert(self, value: Any, param: Any, ctx: Any) -> Path:
        text = str(value)
        shown = text if len(text) <= 120 else f"{text[:60]}…({len(text)} characters)"
        if "\x00" in text:
            self.fail(f"{shown!r}: a path cannot contain a NUL byte", param, ctx)
        if not text.strip():
            self.fail(f"{text!r}: an empty path; expected a {self.what} or folder name", param, ctx)
        shown = terminal_safe(shown)
        if self.exists:
            try:
                ok = Path(text).is_file()
            except (OSError, ValueError):
                ok = False
            if not ok:
                self.fail(f"{shown}: {self.what} not found", param, ctx)
        return Path(text)


data_dir_option = click.option(
    "--data-dir",
    type=PathArg(),
    default=None,
    help="Data dir (default: $GOVLIB_DATA_DIR, else data/ of this checkout, else a per-user dir).",
)


def clean_errors(fn: F) -> F:
    """Turn govlib's own errors into a one-line message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            # A shell hands undecodable bytes over as lone surrogates; refuse them up front.
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str | Path) and not _is_utf8(str(text)):
                    click.echo(f"Error: --{name.replace('_', '-')}: not valid UTF-8 text", err=True)
                    sys.exit(2)
        try:
            return fn(*args, **kwargs)
        except GovlibError as exc:
            click.echo(f"Error: {terminal_safe(exc)}", err=True)
            sys.exit(2)
        except (sqlite3.Error, OSError) as exc:
            # A write that cannot be made (disk full, read-only file) fails loudly, never silently.
            click.echo(
                "Error: the store could not be read or written "
                f"({terminal_safe(exc)}); nothing was recorded",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _store(data_dir: Path | None, *, readonly: bool = False) -> Any:
    """Open the existing store of ``--data-dir``; a missing folder or store is refused, never made.

    Only `govlib init`, `govlib demo` and `govlib ingest otel --create` make a store.
    """
    from govlib.store.database import Store
    from govlib.store.datadir import existing_store_dir

    return Store(
        existing_store_dir(data_dir, writable=not readonly), create=False, readonly=readonly
    )


def _has_store(data_dir: Path | None) -> bool:
    """Whether ``--data-dir`` holds a store file (nothing else is checked here)."""
    from govlib.store.database import STORE_FILENAME
    from govlib.store.datadir import resolve_data_dir

    try:
        return (resolve_data_dir(data_dir) / STORE_FILENAME).is_file()
    except (OSError, ValueError):
        return False


def _new_store(data_dir: Path | None) -> tuple[Any, str]:
    """Make a new store (the folder checked first, then marked with a new store id) and open it.

    The store's first WORM entry is ``store_initialised`` with the store id; its keys and a
    signed checkpoint follow.
    """
    from govlib.evidence import worm
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.store.database import Store
    from govlib.store.datadir import mark_new_store, new_store_dir

    path = new_store_dir(data_dir)
    store_id = mark_new_store(path)
    store = Store(path)
    try:
        worm.append(
            store, "store_initialised", outcome="initialised", detail={"store_id": store_id}
        )
        sign_checkpoint(store)
    except BaseException:
        store.close()
        raise
    return store, store_id


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="govlib")
def cli() -> None:
    """govlib: AI-governance evidence that non-engineers can read.

    Example:

        govlib demo && govlib serve
    """


@cli.command()
@data_dir_option
@clean_errors
def init(data_dir: Path | None) -> None:
    """Create an empty store: its marker file, keys, a random store id and a first WORM entry.

    Refuses a folder that already holds a store, or files govlib did not make. Every other verb
    (but `govlib demo` and `govlib ingest otel --create`) needs an existing store.

    Example:

        govlib init --data-dir /srv/govlib
    """
    store, store_id = _new_store(data_dir)
    with store:
        click.echo(terminal_safe(f"Store {store_id} created in {store.data_dir}"))


@cli.command()
@data_dir_option
@click.option(
    "--history-days",
    default=30,
    show_default=True,
    type=int,
    help="Days of seeded history, 0 to 366 (0: only the live runs).",
)
@click.option(
    "--as-of",
    default=None,
    help="End of the history (ISO date/time, UTC), from 2000-01-01 to now; "
    "default: start of this hour.",
)
@click.option(
    "--seed",
    default=7,
    show_default=True,
    type=int,
    help="Seed of the simulated history, 0 to 2**63-1.",
)
@click.option("--force", is_flag=True, help="Use a non-empty data dir govlib did not create.")
@clean_errors
def demo(
    data_dir: Path | None, history_days: int, as_of: str | None, seed: int, force: bool
) -> None:
    """Build the demo store: seeded history, then a live clean and a live fraud claim.

    Every option is checked before the data dir is touched (a demo dir govlib made is wiped,
    keys kept).

    Example:

        govlib demo --history-days 30
    """
    from govlib.demo.builder import build_demo, check_demo_options
    from govlib.store.datadir import checked_data_dir

    check_demo_options(history_days, as_of, seed)
    target = checked_data_dir(data_dir)
    summary = build_demo(target, history_days=history_days, as_of=as_of, seed=seed, force=force)
    for line in summary["lines"]:
        click.echo(terminal_safe(line))


@cli.command()
@data_dir_option
@click.argument("scenario", type=click.Choice(["clean", "fraud"]))
@clean_errors
def run(data_dir: Path | None, scenario: str) -> None:
    """Run one live ClaimsFlow scenario through the governance primitives.

    Example:

        govlib run fraud
    """
    from govlib.demo.claimsflow import run_scenario

    with _store(data_dir) as store:
        result = run_scenario(store, scenario)
        click.echo(terminal_safe(result.summary))


@cli.group()
def killswitch() -> None:
    """Read, trigger or reset the kill-switch."""


@killswitch.command("status")
@data_dir_option
@clean_errors
def killswitch_status(data_dir: Path | None) -> None:
    """Print the kill-switch state.

    Example:

        govlib killswitch status
    """
    with _store(data_dir) as store:
        from govlib.governance.governor import KillSwitch

        click.echo(terminal_safe(KillSwitch(store).state().describe()))


_USER_TOKEN_HELP = (
    "File holding your personal token (default: $GOVLIB_USER_TOKEN); required instead of --by "
    "once people are configured (govlib users add)."
)


@killswitch.command("reset")
@data_dir_option
@click.option("--by", default=None, help="Who resets it (named person; no people configured).")
@click.option("--token-file", type=PathArg(exists=True), default=None, help=_USER_TOKEN_HELP)
@click.option("--reason", required=True, help="Why it is safe to resume.")
@clean_errors
def killswitch_reset(
    data_dir: Path | None, by: str | None, token_file: Path | None, reason: str
) -> None:
    """Reset a triggered kill-switch (recorded in the WORM log).

    Example:

        govlib killswitch reset --by "Dana Ortiz" --reason "fraud ring blocked"
    """
    _change_kill_switch(data_dir, "reset", by, reason, token_file)


@killswitch.command("trigger")
@data_dir_option
@click.option("--by", default=None, help="Who triggers it (named person; no people configured).")
@click.option("--token-file", type=PathArg(exists=True), default=None, help=_USER_TOKEN_HELP)
@click.option("--reason", required=True, help="Why every governed call must stop.")
@clean_errors
def killswitch_trigger(
    data_dir: Path | None, by: str | None, token_file: Path | None, reason: str
) -> None:
    """Trigger the kill-switch by hand: every governed call is refused until reset.

    Example:

        govlib killswitch trigger --by "Dana Ortiz" --reason "incident 42"
    """
    _change_kill_switch(data_dir, "trigger", by, reason, token_file)


def _change_kill_switch(
    data_dir: Path | None, change: str, by: str | None, reason: str, token_file: Path | None
) -> None:
    """Reset or trigger the kill-switch, sign a checkpoint over the entry, print the new state."""
    from govlib.cli.users import acting_person
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.governance.governor import KillSwitch

    with _store(data_dir) as store:
        by = acting_person(store, by, token_file, "killswitch_reset", "kill-switch")
        state = getattr(KillSwitch(store), change)(by=by, reason=reason)
        sign_checkpoint(store)
        click.echo(terminal_safe(state.describe()))


@cli.command()
@data_dir_option
@click.argument("audit_id", type=int)
@click.argument("verdict", type=click.Choice(["accept", "reject"]))
@click.option("--by", default=None, help="Reviewer's name (when no people are configured).")
@click.option("--token-file", type=PathArg(exists=True), default=None, help=_USER_TOKEN_HELP)
@click.option("--correct", is_flag=True, help="Change an existing verdict (needs --reason).")
@click.option("--reason", default=None, help="Why the verdict is corrected.")
@clean_errors
def stamp(
    data_dir: Path | None,
    audit_id: int,
    verdict: str,
    by: str | None,
    token_file: Path | None,
    correct: bool,
    reason: str | None,
) -> None:
    """Stamp a human verdict on one tool call (or correct one with --correct --reason).

    Example:

        govlib stamp 42 accept --by "Ana Reviewer"
    """
    from govlib.capture.verdicts import correct_verdict, stamp_verdict
    from govlib.cli.users import acting_person
    from govlib.evidence.checkpoints import sign_checkpoint

    if correct and not reason:
        raise click.UsageError("--correct needs --reason TEXT")
    with _store(data_dir) as store:
        by = acting_person(store, by, token_file, "stamp", f"audit_log {audit_id}")
        if correct:
            result = correct_verdict(audit_id, verdict, by, reason, store=store)
        else:
            result = stamp_verdict(audit_id, verdict, by, store=store)
        sign_checkpoint(store)
        click.echo(terminal_safe(result.describe()))


@cli.command()
@data_dir_option
@click.option(
    "--checkpoints",
    type=PathArg(exists=True, what="checkpoint file"),
    default=None,
    help="Checkpoint file (default: DIR/checkpoints.jsonl).",
)
@click.option(
    "--pubkey",
    type=PathArg(exists=True, what="public key file"),
    default=None,
    help="Ed25519 public key PEM (default: DIR/checkpoint_pubkey.pem).",
)
@click.option(
    "--mirror",
    is_flag=True,
    help="Verify against the checkpoint mirror (the checkpoint_mirror setting) instead.",
)
@click.option(
    "--archives",
    is_flag=True,
    help="Also verify every sealed segment under DIR/archive/ (files, manifests, chain).",
)
@clean_errors
def verify(
    data_dir: Path | None,
    checkpoints: Path | None,
    pubkey: Path | None,
    mirror: bool,
    archives: bool = False,
) -> None:
    """Re-compute every MAC, link, checkpoint, batch digest, verdict and governed row.

    Exits 1 when anything is broken. With --mirror the checkpoints come from the mirror that
    received each one as it was made (the defence against truncation and rollback).

    Example:

        govlib verify --checkpoints /mnt/offsite/checkpoints.jsonl
    """
    import tempfile

    from govlib.evidence.mirror import MirrorError, fetch_mirror, mirror_target
    from govlib.evidence.verify import verify_store

    if mirror and checkpoints is not None:
        raise click.UsageError("--mirror and --checkpoints name two checkpoint files; give one")
    with _store(data_dir, readonly=True) as store, tempfile.TemporaryDirectory() as work:
        if mirror:
            target = mirror_target(store)
            if target is None:
                raise MirrorError("--mirror: no checkpoint_mirror is set for this data dir")
            checkpoints, mirrored_key = fetch_mirror(target, Path(work))
            pubkey = pubkey or mirrored_key
        result = verify_store(store, checkpoints=checkpoints, pubkey=pubkey, archives=archives)
    # the summary, then each problem and note on its own line
    click.echo(terminal_lines(result.describe()))
    if store.access_note:  # an auditor's read-only copy: verified without writing
        click.echo(terminal_safe(f"Note: {store.access_note}"))
    sys.exit(0 if result.ok else 1)


@cli.command("evidence-pack")
@data_dir_option
@click.option(
    "--out",
    type=PathArg(),
    required=True,
    help="Zip file to write (must not exist; its folder must).",
)
@click.option("--period", default="30d", show_default=True, help="Period the report covers.")
@click.option(
    "--checkpoints",
    type=PathArg(exists=True, what="checkpoint file"),
    default=None,
    help="Checkpoint file to pack and verify (default: DIR/checkpoints.jsonl).",
)
@click.option(
    "--pubkey",
    type=PathArg(exists=True, what="public key file"),
    default=None,
    help="Ed25519 public key PEM (default: checkpoint_pubkey.pem beside the checkpoints, or DIR/).",
)
@click.option(
    "--with-archives",
    is_flag=True,
    help="Also pack the sealed segments' files and a store snapshot, and verify the segments.",
)
@clean_errors
def evidence_pack_command(
    data_dir: Path | None,
    out: Path,
    period: str,
    checkpoints: Path | None,
    pubkey: Path | None,
    with_archives: bool = False,
) -> None:
    """Write one zip for an auditor: checkpoints, public key, verify.json, report, manifest.

    The store is only read. A store that does not verify still gets its pack (verify.json says
    why) and the command exits 1; a bad --out (exists, folder missing) exits 2.

    Example:

        govlib evidence-pack --out evidence-2026-11.zip --period 30d
    """
    from govlib.evidence.pack import evidence_pack
    from govlib.report.contents import parse_period, write_report

    parse_period(period)
    with _store(data_dir, readonly=True) as store:
        result = evidence_pack(
            store,
            out,
            report=write_report,
            period=period,
            checkpoints=checkpoints,
            pubkey=pubkey,
            with_archives=with_archives,
        )
    click.echo(terminal_lines(result.describe()))
    if store.access_note:  # an auditor's read-only copy: verified without writing
        click.echo(terminal_safe(f"Note: {store.access_note}"))
    sys.exit(0 if result.ok else 1)


@cli.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@clean_errors
def status(data_dir: Path | None, as_json: bool) -> None:
    """Counts per table, chain head, kill-switch state, emitter drop counters.

    Example:

        govlib status --json
    """
    from govlib.cli.status import format_status, store_status
    from govlib.store.datadir import checked_data_dir

    info = store_status(checked_data_dir(data_dir, create=False))
    click.echo(
        json.dumps(info, indent=2, default=str) if as_json else terminal_lines(format_status(info))
    )
    if info.get("error"):
        sys.exit(1)


@cli.command()
@data_dir_option
@click.option(
    "--lake",
    "shared_lake",
    type=click.Path(path_type=Path),
    default=None,
    help="Also mirror this store's part (store_id=<id>/) into this shared lake folder.",
)
@clean_errors
def export(data_dir: Path | None, shared_lake: Path | None) -> None:
    """Write the Parquet lake (DIR/lake/) and DIR/govlib.duckdb for analysts.

    Example:

        govlib export --lake /mnt/fleet-lake
    """
    from govlib.analysis.export import export_lake
    from govlib.store.datadir import existing_store_dir

    summary = export_lake(existing_store_dir(data_dir, writable=True), shared_lake=shared_lake)
    click.echo(terminal_safe(summary["message"]))


def _access_token(token: str | None, token_file: Path | None) -> str | None:
    """The access token: --token, --token-file FILE or GOVLIB_TOKEN (None when none)."""
    import os

    if token is not None and token_file is not None:
        raise GovlibError("--token and --token-file: give one of them")
    if token is not None:
        click.echo(
            "Warning: --token TOKEN is visible to other local users in `ps`; "
            "use GOVLIB_TOKEN or --token-file FILE instead",
            err=True,
        )
        return token
    if token_file is not None:
        return token_in_file(token_file)
    return os.environ.get("GOVLIB_TOKEN") or None


def token_in_file(token_file: Path) -> str:
    """The token a ``--token-file`` holds (UTF-8, surrounding whitespace ignored; not empty)."""
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise GovlibError(f"--token-file {token_file}: cannot be read ({exc})") from None
    if not token:
        raise GovlibError(f"--token-file {token_file}: the file is empty")
    return token


@cli.command()
@data_dir_option
@click.option("--port", default=8866, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--token-file",
    type=PathArg(),
    default=None,
    help="File holding the access token (required with a non-loopback --host, "
    "unless GOVLIB_TOKEN is set).",
)
@click.option(
    "--token",
    default=None,
    help="Access token as a literal (visible to other local users in `ps`: prefer "
    "GOVLIB_TOKEN or --token-file).",
)
@click.option(
    "--preheat/--no-preheat",
    default=True,
    show_default=True,
    help="Keep warm kernels per app (the kernel_pool_size setting).",
)
@click.option(
    "--watch",
    "with_watch",
    is_flag=True,
    help="Also run `govlib watch` (alerts) beside the apps, stopped with them.",
)
@click.option(
    "--auth",
    type=click.Choice(["tokens", "header", "none", "shared-token"]),
    default=None,
    help="Who is looking: personal tokens and a sign-in page; a trusted proxy's user header; "
    "none (loopback only; the default); or one shared token (a quick demo). "
    "Default: shared-token when a shared token is given, else none.",
)
@click.option(
    "--user-header",
    default="X-Forwarded-User",
    show_default=True,
    help="With --auth header: the header naming the signed-in person.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="With --auth header: address or network of the reverse proxy (repeatable).",
)
@clean_errors
def serve(
    data_dir: Path | None,
    port: int,
    host: str,
    token_file: Path | None,
    token: str | None,
    preheat: bool,
    with_watch: bool,
    auth: str | None,
    user_header: str,
    trusted_proxies: tuple[str, ...],
) -> None:
    """Serve the Voila apps: /voila/render/executive_spog.ipynb and spc_dashboard.ipynb.

    The access token comes from the GOVLIB_TOKEN environment variable or --token-file FILE;
    it is never passed to Voila on a command line.

    Example:

        govlib serve --port 8866 --watch
    """

    from govlib.cli.alerts import start_watch, stop_watch
    from govlib.cli.serve import check_port_free, checked_auth, serve_apps
    from govlib.evidence.settings_log import record_settings
    from govlib.governance.users import people_configured
    from govlib.settings import load_settings

    token = _access_token(token, token_file)
    mode = checked_auth(auth, host, token, trusted_proxies)  # checks --host/--auth/--token
    check_port_free(host, port)  # fail fast, before anything is recorded
    with _store(data_dir) as store:  # the pages name the settings version they use
        directory = store.data_dir
        if mode in ("tokens", "header") and not people_configured(store):
            raise GovlibError(
                f"--auth {mode}: no people are configured in this store; expected at least one "
                "(govlib users add NAME --role ROLE)"
            )
        record_settings(store, load_settings(directory))
    watcher = start_watch(directory) if with_watch else None
    try:
        code = serve_apps(
            directory,
            host=host,
            port=port,
            token=token,
            preheat=preheat,
            auth=mode,
            user_header=user_header,
            trusted_proxies=trusted_proxies,
        )
    finally:
        if watcher is not None:
            stop_watch(watcher)
    sys.exit(code)


@cli.command()
@data_dir_option
@click.option("--period", default="30d", show_default=True, help="Period covered, e.g. 7d, 30d.")
@click.option(
    "--out",
    type=PathArg(),
    default=None,
    help="HTML file (default: DIR/report.html).",
)
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    help="Count only this tenant's calls, runs and receipts (repeatable; default: every tenant).",
)
@clean_errors
def report(data_dir: Path | None, period: str, out: Path | None, tenants: tuple[str, ...]) -> None:
    """Write a self-contained HTML evidence report for an audit committee.

    Example:

        govlib report --period 30d --out evidence.html --tenant acme
    """
    from govlib.report.contents import parse_period, write_report

    parse_period(period)
    with _store(data_dir, readonly=True) as store:
        path = write_report(store, period=period, out=out, tenants=tenants or None)
        note = store.access_note
    click.echo(terminal_safe(f"Report written: {path}"))
    if note:
        click.echo(terminal_safe(f"Note: {note}"))


def span_mapping_options(command: Any) -> Any:
    """The options of `govlib ingest otel` and `govlib collect` that say how spans map to rows."""
    options = [
        click.option("--tenant-attribute", default="tenant.id", show_default=True),
        click.option("--default-tenant", default=None, help="Tenant for spans without one."),
        click.option("--actor-attribute", default="service.name", show_default=True),
        click.option("--schema-valid-attribute", default="govlib.schema_valid", show_default=True),
        click.option("--accept-label", multiple=True, default=("pass",), show_default=True),
        click.option("--reject-label", multiple=True, default=("fail",), show_default=True),
        click.option(
            "--create",
            is_flag=True,
            help="Make a new store (as `govlib init` does) when --data-dir holds none.",
        ),
    ]
    for option in reversed(options):  # click applies decorators bottom-up
        command = option(command)
    return command


@cli.group()
def ingest() -> None:
    """Ingest telemetry from other agents."""


@ingest.command("otel")
@data_dir_option
@click.argument("paths", nargs=-1, required=True, type=PathArg())
@span_mapping_options
@clean_errors
def ingest_otel(
    data_dir: Path | None, paths: tuple[Path, ...], create: bool, **options: Any
) -> None:
    """Ingest OpenTelemetry trace exports (OTLP/JSON or protobuf, gzip/zstd), idempotently.

    Reads *.json / *.jsonl (a request per line, pretty-printed requests back to back, or a
    JSON array) and *.pb (the Collector file exporter's `format: proto`), each optionally
    .gz / .zst; directories recursively. GenAI, OpenInference and Langfuse spans are mapped.
    The store must exist (`govlib init`) unless --create is given. Exit 0 when everything was
    read, 1 when a file or an AI span could not be (the summary says what), 2 for usage errors.
    gen_ai.evaluation.result events on tool or chat spans become evaluator verdicts (source
    evaluator:NAME; --accept-label/--reject-label), apart from human review: they count toward
    neither the sampling gate nor the accept rate.

    Example:

        govlib ingest otel traces/ --create --data-dir /srv/govlib
    """
    from govlib.capture.otel.ingest import IngestConfig, export_files, ingest_paths
    from govlib.evidence.checkpoints import sign_checkpoint

    config = IngestConfig.from_options(**options)
    export_files(paths)  # a missing path is refused before any store is opened or made
    store = _new_store(data_dir)[0] if create and not _has_store(data_dir) else _store(data_dir)
    with store:
        summary = ingest_paths(store, list(paths), config)
        sign_checkpoint(store)
    click.echo(terminal_lines(summary.describe()))
    if summary.problems:
        click.echo(f"Error: {len(summary.problems)} problem(s) reading the input (listed above).")
        sys.exit(1)


@cli.command()
@data_dir_option
@click.option(
    "--listen",
    default="127.0.0.1:4318",
    show_default=True,
    help="HOST:PORT to receive OTLP/HTTP on (a non-loopback host needs a token).",
)
@click.option("--token-file", type=PathArg(), default=None, help="File holding the token.")
@click.option("--token", default=None, help="Token as a literal (prefer GOVLIB_TOKEN).")
@click.option(
    "--max-body-mb",
    default=16,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Largest request body, compressed or not (413 beyond).",
)
@span_mapping_options
@clean_errors
def collect(
    data_dir: Path | None,
    listen: str,
    token_file: Path | None,
    token: str | None,
    max_body_mb: int,
    create: bool,
    **options: Any,
) -> None:
    """Receive OpenTelemetry traces over OTLP/HTTP (POST /v1/traces, /v1/logs) into the store.

    Point an exporter at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (protobuf
    or JSON, gzip). Spans go through the same mapping as `govlib ingest otel`; re-delivered
    spans add nothing. /v1/logs takes gen_ai.evaluation.result records (tied to their span by
    span context or gen_ai.response.id): evaluator verdicts, apart from human review. Runs
    until Ctrl-C / SIGTERM, then writes what it holds and prints the summary. The store must
    exist (`govlib init`) unless --create is given.

    Example:

        govlib collect --listen 127.0.0.1:4318 --data-dir /srv/govlib
    """
    import signal
    import threading

    from govlib.capture.otel.collect import CollectLimits, parse_listen, serve_collector
    from govlib.capture.otel.ingest import IngestConfig
    from govlib.evidence.checkpoints import sign_checkpoint

    config = IngestConfig.from_options(**options)
    parse_listen(listen)  # a bad address is refused before any store is opened or made
    token = _access_token(token, token_file)
    limits = CollectLimits(max_body_bytes=max_body_mb * 1024 * 1024)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = _new_store(data_dir)[0] if create and not _has_store(data_dir) else _store(data_dir)

    def ready(url: str) -> None:
        click.echo(f"govlib collect: receiving OTLP/HTTP on {url}/v1/traces", err=True)
        click.echo(f"  export OTEL_EXPORTER_OTLP_ENDPOINT={url}", err=True)

    with store:
        summary = serve_collector(
            store, listen, config=config, limits=limits, token=token, ready=ready, stop=stop
        )
        sign_checkpoint(store)
    click.echo(terminal_lines(summary.describe()))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="govlib")


@cli.command()
@data_dir_option
@click.option(
    "--before",
    default=None,
    metavar="YYYY-MM-DD",
    help="Seal whole days before this date (default: retention_hot_days ago).",
)
@clean_errors
def seal(data_dir: Path | None, before: str | None) -> None:
    """Move old evidence out of the live store into a sealed segment under DIR/archive/.

    Parquet per table and a signed manifest; a segment_sealed WORM entry binds it; the rows
    leave govlib.sqlite in the same transaction and the space is reclaimed. Current state (the
    latest kill-switch event, rules, registry, open runs) never moves.

    Example:

        govlib seal --before 2026-11-01
    """
    from govlib.evidence.archive import seal_before

    if before is not None:
        from govlib.evidence.archive import cutoff_time

        cutoff_time(before)  # checked before any side effect
    with _store(data_dir) as store:
        result = seal_before(store, before)
    click.echo(terminal_safe(result.message))


@cli.command()
@data_dir_option
@click.option(
    "--before",
    default=None,
    metavar="YYYY-MM-DD",
    help="Purge sealed segments whose entries all precede this date.",
)
@click.option(
    "--person",
    default=None,
    metavar="NAME",
    help="Erase the name behind this person's pseudonym (the chain keeps the pseudonym).",
)
@click.option("--reason", default="retention policy", show_default=True, help="Recorded why.")
@clean_errors
def purge(data_dir: Path | None, before: str | None, person: str | None, reason: str) -> None:
    """Delete sealed segments past their retention (refused under a legal hold), or erase a person.

    A segment_purged WORM entry records what, why and under which policy; the signed manifest
    stays, so `govlib verify --archives` reports the range as purged by policy. With --person the
    name behind that person's pseudonym is deleted from the people table (a person_erased WORM
    entry records the pseudonym, never the name); pages then show "erased person" and the chain
    still verifies.

    Example:

        govlib purge --before 2019-01-01
        govlib purge --person "Dana Ortiz"
    """
    if (before is None) == (person is None):
        raise click.UsageError("give exactly one of --before YYYY-MM-DD or --person NAME")
    if person is not None:
        from govlib.evidence.people import purge_person

        if not person.strip():
            raise click.BadParameter(
                f"{person!r}; expected a non-empty name", param_hint="--person"
            )
        with _store(data_dir) as store:
            click.echo(terminal_safe(purge_person(store, person).describe()))
        return
    from govlib.evidence.archive import cutoff_time, purge_before

    cutoff_time(before)  # checked before any side effect
    with _store(data_dir) as store:
        result = purge_before(store, before, reason=reason)
    click.echo(terminal_safe(result.message))


def _register_alerts() -> None:
    """The alerting verbs live in their own module (``govlib watch``, ``govlib alerts``)."""
    from govlib.cli.alerts import alerts, watch

    cli.add_command(watch)
    cli.add_command(alerts)


_register_alerts()

from govlib.cli import users as _users  # noqa: E402,F401 - registers `govlib users`

if __name__ == "__main__":
    main()


from govlib.cli.scale import stats as _stats_command  # noqa: E402 - needs clean_errors above

cli.add_command(_stats_command)
