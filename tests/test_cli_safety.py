"""The command line checks before it acts, never makes a store by accident, never lets stored text
drive the terminal.

- ``govlib demo`` refuses a bad ``--as-of`` / ``--history-days`` / ``--seed`` (exit 2, the option
  named) before a demo dir is wiped: every file keeps its bytes.
- A ``--data-dir`` that does not exist (a typo) is refused by every verb with one message, and
  nothing is created; a folder without a store is refused too. ``govlib init`` (and ``govlib
  ingest otel --create``) make a store: marker, keys, store id, a first WORM entry.
- Stored text (a kill-switch reason with ``\\r ESC[2K`` and bidi overrides) is printed escaped.

Stores here come from ``govlib init`` (about 0.1 s), never from a demo build.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from govlib.cli.main import cli
from govlib.cli.terminal import terminal_lines, terminal_safe
from govlib.demo.builder import DemoError, build_demo
from govlib.store.datadir import MARKER, NO_FOLDER, NO_STORE, STORE_ID_FILE, read_store_id

SAMPLE = Path(__file__).parent / "data" / "otel" / "sample_traces.jsonl"
#: What a terminal must never receive raw from stored text.
RAW_CONTROLS = ["\x1b", "\r", "\u202e", "\u2066", "\u2069", "\u202a"]
HOSTILE_REASON = (
    "incident 42\r\x1b[2KKill-switch armed (never triggered) \u202egnp.exe\u2066x\u2069"
)


def invoke(args: list[object], sandbox: Path) -> Result:
    """Run the CLI in-process; an unset --data-dir would land in ``sandbox``, never in data/."""
    runner = CliRunner(env={"GOVLIB_DATA_DIR": str(sandbox), "GOVLIB_CHECKPOINT_FILE": None})
    return runner.invoke(cli, [str(a) for a in args])


def hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (the names and bytes a refused command must keep)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def errors(r: Result) -> list[str]:
    return [line for line in r.output.splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store made by `govlib init` (so `govlib demo` would wipe it): marker, keys, store id."""
    root = tmp_path_factory.mktemp("safety")
    data = root / "data"
    r = invoke(["init", "--data-dir", data], root)
    assert r.exit_code == 0, r.output
    return data


@pytest.fixture()
def store_dir(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template, target)
    return target


# --- govlib demo: every option checked before the wipe --------------------------------------------
BAD_DEMO_OPTIONS = {
    "as-of-year-1": (["--as-of", "0001-01-01"], "as-of"),
    "as-of-year-9999": (["--as-of", "9999-12-31"], "as-of"),
    "as-of-yesterday": (["--as-of", "yesterday"], "as_of"),
    "as-of-feb-30": (["--as-of", "2026-02-30"], "as_of"),
    "as-of-no-utc-equivalent": (["--as-of", "0001-01-01T00:00:00+01:00"], "as-of"),
    "as-of-before-2000": (["--as-of", "1999-12-31T23:59:59Z"], "as-of"),
    "history-before-2000": (["--as-of", "2000-01-01"], "history-days"),
    "history-days-negative": (["--history-days", "-1"], "history-days"),
    "history-days-too-many": (["--history-days", "367"], "history-days"),
    "history-days-text": (["--history-days", "ten"], "history-days"),
    "seed-negative": (["--seed", "-1"], "seed"),
    "seed-beyond-64-bits": (["--seed", str(2**63)], "seed"),
}


@pytest.mark.parametrize("case", list(BAD_DEMO_OPTIONS))
def test_demo_refuses_a_bad_option_before_touching_the_demo_dir(
    store_dir: Path, tmp_path: Path, case: str
) -> None:
    options, field = BAD_DEMO_OPTIONS[case]
    before = hashes(store_dir)
    r = invoke(["demo", "--data-dir", store_dir, "--history-days", "1", *options], tmp_path)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert field in r.output and "Traceback" not in r.output, r.output
    assert hashes(store_dir) == before, "a refused demo changed the demo dir"


def test_demo_with_year_one_as_a_real_process(store_dir: Path) -> None:
    """The reported case, as a shell runs it: exit 2, one line, the demo dir as it was."""
    before = hashes(store_dir)
    out = subprocess.run(
        [sys.executable, "-m", "govlib", "demo", "--as-of", "0001-01-01", "--data-dir", store_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "OverflowError" not in out.stderr
    assert out.stderr.startswith("Error: as_of (--as-of): '0001-01-01' is before 2000-01-01")
    assert hashes(store_dir) == before


@pytest.mark.parametrize(
    "kwargs",
    [{"as_of": "9999-12-31"}, {"history_days": 400}, {"seed": -3}, {"history_days": True}],
    ids=["as-of", "history-days", "seed", "history-days-bool"],
)
def test_build_demo_checks_its_options_before_the_wipe(store_dir: Path, kwargs: dict) -> None:
    before = hashes(store_dir)
    with pytest.raises(DemoError, match=next(iter(kwargs))):
        build_demo(store_dir, live=False, **kwargs)
    assert hashes(store_dir) == before


# --- a --data-dir that does not exist, or holds no store ------------------------------------------
VERBS = {
    "run": ["run", "clean"],
    "report": ["report"],
    "export": ["export"],
    "stamp": ["stamp", "1", "accept", "--by", "Ana Reviewer"],
    "status": ["status"],
    "verify": ["verify"],
    "evidence-pack": ["evidence-pack", "--out", "{tmp}/pack.zip"],
    "killswitch-status": ["killswitch", "status"],
    "killswitch-trigger": ["killswitch", "trigger", "--by", "Dana", "--reason", "test"],
    "killswitch-reset": ["killswitch", "reset", "--by", "Dana", "--reason", "test"],
    "serve": ["serve", "--port", "1"],
    "ingest-otel": ["ingest", "otel", str(SAMPLE)],
}


def _args(verb: str, tmp_path: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp_path)) for a in VERBS[verb]]


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_refuses_a_missing_data_dir_and_creates_nothing(
    tmp_path: Path, verb: str
) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    typo = tmp_path / "dataa"
    r = invoke([*_args(verb, tmp_path), "--data-dir", typo], sandbox)
    assert r.exit_code == 2, r.output
    assert errors(r) == [f"Error: {typo}: {NO_FOLDER}"], r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox"], "something was created"
    assert list(sandbox.iterdir()) == []


@pytest.mark.parametrize("verb", [v for v in VERBS if v != "status"])
def test_every_verb_refuses_a_folder_without_a_store(tmp_path: Path, verb: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = invoke([*_args(verb, tmp_path), "--data-dir", empty], tmp_path)
    assert r.exit_code == 2, r.output
    assert errors(r) == [f"Error: {empty}: {NO_STORE}"], r.output
    assert list(empty.iterdir()) == []


def test_an_empty_data_dir_option_is_refused(tmp_path: Path) -> None:
    r = invoke(["run", "clean", "--data-dir", ""], tmp_path)
    assert r.exit_code == 2 and "--data-dir" in r.output and "empty path" in r.output
    assert list(tmp_path.iterdir()) == []


# --- govlib init -----------------------------------------------------------------------------------
def test_init_makes_a_marked_store_with_keys_and_a_store_id(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    r = invoke(["init", "--data-dir", data], tmp_path)
    assert r.exit_code == 0, r.output
    store_id = read_store_id(data)
    assert store_id and r.output.strip() == f"Store {store_id} created in {data}"
    assert (data / MARKER).is_file() and (data / STORE_ID_FILE).is_file()
    assert (data / "govlib.sqlite").is_file() and (data / "checkpoint_pubkey.pem").is_file()
    assert any((data / "keys").iterdir())
    from govlib.evidence import worm
    from govlib.store.database import Store

    with Store(data, readonly=True) as store:
        first = worm.entries(store)[0]
    assert first["action"] == "store_initialised"
    detail = first["detail"] if isinstance(first["detail"], dict) else json.loads(first["detail"])
    assert detail == {"store_id": store_id}
    verified = invoke(["verify", "--data-dir", data], tmp_path)
    assert verified.exit_code == 0, verified.output
    again = tmp_path / "other"
    assert invoke(["init", "--data-dir", again], tmp_path).exit_code == 0
    assert read_store_id(again) != store_id, "store ids are random"


def test_init_refuses_an_existing_store(store_dir: Path, tmp_path: Path) -> None:
    before = hashes(store_dir)
    r = invoke(["init", "--data-dir", store_dir], tmp_path)
    assert r.exit_code == 2
    assert errors(r) == [f"Error: {store_dir}: already holds a govlib store; nothing was changed"]
    assert hashes(store_dir) == before


def test_init_refuses_a_folder_govlib_did_not_make(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    r = invoke(["init", "--data-dir", mine], tmp_path)
    assert r.exit_code == 2 and "not made by govlib" in r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_store_from_init_is_one_a_demo_may_wipe(store_dir: Path) -> None:
    """`govlib demo` on an init'd store is not refused as "not made by govlib"; keys are kept and
    the new store gets a new id."""
    from govlib.store.datadir import prepare_fresh

    keys = hashes(store_dir / "keys")
    old_id = read_store_id(store_dir)
    prepare_fresh(store_dir)
    assert sorted(p.name for p in store_dir.iterdir()) == [MARKER, "keys", STORE_ID_FILE]
    assert hashes(store_dir / "keys") == keys
    assert read_store_id(store_dir) not in (None, old_id)


def test_a_fresh_store_runs_a_claim(store_dir: Path, tmp_path: Path, no_service_wait) -> None:  # noqa: ANN001
    r = invoke(["run", "clean", "--data-dir", store_dir], tmp_path)
    assert r.exit_code == 0 and "paid" in r.output, r.output


# --- govlib ingest otel --create -------------------------------------------------------------------
def test_ingest_otel_makes_a_store_only_with_create(tmp_path: Path) -> None:
    data = tmp_path / "traces-store"
    refused = invoke(["ingest", "otel", SAMPLE, "--data-dir", data], tmp_path)
    assert refused.exit_code == 2 and NO_FOLDER in refused.output
    assert not data.exists()
    missing_file = invoke(
        ["ingest", "otel", tmp_path / "x", "--create", "--data-dir", data], tmp_path
    )
    assert missing_file.exit_code == 2 and "no such file or directory" in missing_file.output
    assert not data.exists(), "a refused path made a store"
    made = invoke(["ingest", "otel", SAMPLE, "--create", "--data-dir", data], tmp_path)
    assert made.exit_code == 0 and "5 new tool call(s)" in made.output, made.output
    assert (data / MARKER).is_file() and read_store_id(data)
    again = invoke(["ingest", "otel", SAMPLE, "--create", "--data-dir", data], tmp_path)
    assert again.exit_code == 0 and "nothing new" in again.output, again.output


# --- stored text on a terminal --------------------------------------------------------------------
def test_a_hostile_kill_switch_reason_is_printed_escaped(store_dir: Path, tmp_path: Path) -> None:
    trigger = ["killswitch", "trigger", "--by", "Eve\x1b[8m", "--reason", HOSTILE_REASON]
    r = invoke([*trigger, "--data-dir", store_dir], tmp_path)
    assert r.exit_code == 0, r.output
    status = invoke(["killswitch", "status", "--data-dir", store_dir], tmp_path)
    for out in (r.output, status.output):
        assert out.startswith("Kill-switch TRIGGERED by Eve\\x1b[8m at "), out
        assert not any(c in out for c in RAW_CONTROLS), repr(out)
        assert "incident 42\\r\\x1b[2KKill-switch armed" in out
        assert "\\u202egnp.exe\\u2066x\\u2069" in out and out.count("\n") == 1


def test_the_terminal_gets_no_raw_escape_bytes_from_a_real_process(
    store_dir: Path, tmp_path: Path
) -> None:
    trigger = ["killswitch", "trigger", "--by", "Eve", "--reason", HOSTILE_REASON]
    assert invoke([*trigger, "--data-dir", store_dir], tmp_path).exit_code == 0
    out = subprocess.run(
        [sys.executable, "-m", "govlib", "killswitch", "status", "--data-dir", store_dir],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert b"\x1b" not in out.stdout and b"\r" not in out.stdout
    assert "\u202e".encode() not in out.stdout
    assert out.stdout.decode().startswith("Kill-switch TRIGGERED by Eve at ")


def test_errors_and_stamp_results_are_escaped(store_dir: Path, tmp_path: Path) -> None:
    typo = tmp_path / "data\x1b[2K\rok"
    r = invoke(["verify", "--data-dir", typo], tmp_path)
    assert r.exit_code == 2 and "\x1b" not in r.output and "\r" not in r.output
    assert "data\\x1b[2K\\rok" in r.output
    from govlib.capture.emitter import Emitter
    from govlib.store.database import Store

    with Store(store_dir) as store:
        Emitter(store, synchronous=True, actor="agent").wrap(lambda: {"ok": 1}, name="t")()
    stamp = ["stamp", "1", "accept", "--by", "Ana\u202eweiveR"]
    stamped = invoke([*stamp, "--data-dir", store_dir], tmp_path)
    assert stamped.exit_code == 0, stamped.output
    assert "Ana\\u202eweiveR" in stamped.output and "\u202e" not in stamped.output


def test_terminal_safe_escapes_controls_and_keeps_printable_unicode() -> None:
    kept = "Zoë Ærøskøbing 名前 🙂🚀 👩\u200d💻 a\\b"
    assert terminal_safe(kept) == kept
    assert terminal_safe("a\nb\tc\x00\x7f\x9b\u2028") == "a\\nb\\tc\\x00\\x7f\\x9b\\u2028"
    bidi = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    assert terminal_safe(bidi) == "".join(f"\\u{ord(c):04x}" for c in bidi)
    assert terminal_lines("one\ntwo\r\x1b[2K") == "one\ntwo\\r\\x1b[2K"
