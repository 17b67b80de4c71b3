"""The command line: help everywhere, clean errors for bad data dirs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from govlib.cli.main import cli

VERBS = [
    ["init"],
    ["demo"],
    ["run"],
    ["serve"],
    ["export"],
    ["verify"],
    ["evidence-pack"],
    ["status"],
    ["stamp"],
    ["report"],
    ["killswitch"],
    ["killswitch", "status"],
    ["killswitch", "reset"],
    ["killswitch", "trigger"],
    ["ingest"],
    ["ingest", "otel"],
]


def test_top_level_help():
    out = CliRunner().invoke(cli, ["--help"])
    assert out.exit_code == 0
    for verb in (
        "init",
        "demo",
        "serve",
        "export",
        "verify",
        "evidence-pack",
        "status",
        "stamp",
        "run",
        "killswitch",
        "report",
        "ingest",
    ):
        assert verb in out.output


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help_with_an_example(verb):
    out = CliRunner().invoke(cli, [*verb, "--help"])
    assert out.exit_code == 0, out.output
    if verb[0] not in ("killswitch", "ingest") or len(verb) > 1:
        assert "Example:" in out.output
    if len(verb) > 1 or verb[0] not in ("killswitch", "ingest"):
        assert "--data-dir" in out.output


def test_python_dash_m_and_console_script():
    out = subprocess.run([sys.executable, "-m", "govlib", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "govlib" in out.stdout


@pytest.mark.parametrize(
    "verb", [["status"], ["verify"], ["export"], ["demo"], ["killswitch", "status"]]
)
def test_data_dir_that_is_a_file(tmp_path, verb):
    f = tmp_path / "afile"
    f.write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "govlib", *verb, "--data-dir", str(f)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert str(f) in out.stderr and "is a file" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_data_dir_that_cannot_be_created(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    target = f / "sub"
    out = subprocess.run(
        [sys.executable, "-m", "govlib", "demo", "--data-dir", str(target)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert str(target) in out.stderr and "Traceback" not in out.stderr


def test_unwritable_data_dir(tmp_path):
    import os

    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        if os.geteuid() == 0:
            # root writes anywhere; use a read-only bind of /proc instead, which nobody can write
            target = "/proc/self/govlib-data"
        else:
            target = str(d)
        out = subprocess.run(
            [sys.executable, "-m", "govlib", "export", "--data-dir", target],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2
        assert target in out.stderr and "Traceback" not in out.stderr
    finally:
        d.chmod(0o700)


def test_status_on_an_empty_dir_says_there_is_no_store(tmp_path):
    out = CliRunner().invoke(cli, ["status", "--data-dir", str(tmp_path)])
    assert out.exit_code == 1
    assert "no govlib store" in out.output


def test_status_reads_the_emitter_counters_of_background_emitters(tmp_path):
    """Two background emitters on one store: `govlib status` sums what they wrote; a store only
    written synchronously says that no background emitter ran (never a row of zeros)."""
    from govlib.capture.emitter import Emitter
    from govlib.store.database import Store

    data = tmp_path / "data"
    store = Store(data)
    out = CliRunner().invoke(cli, ["status", "--data-dir", str(data)])
    assert "Emitter counters: none recorded (no background emitter wrote here" in out.output
    for k in range(2):
        em = Emitter(store, actor=f"e{k}")
        tool = em.wrap(lambda x: {"ok": True, "x": x}, name="echo")
        for i in range(5 + k):
            tool(i)
        em.close()
    out = CliRunner().invoke(cli, ["status", "--data-dir", str(data)])
    line = next(x for x in out.output.splitlines() if x.startswith("Emitter counters: "))
    assert line.startswith("Emitter counters: written=11 of enqueued=11 in batches="), line
    assert "dropped=0 (dropped_overflow=0, dropped_rows=0); sink_errors=0" in line, line
    assert "from 1 process file(s)" in line and "last error" not in line, line


@pytest.mark.usefixtures(
    "no_service_wait"
)  # the live claim's simulated service time proves nothing
def test_run_clean_twice_gives_two_different_claims(tmp_path):
    """Issue 18: `govlib run clean` is a new claim each time, never a second payout of one."""
    from govlib.store.database import Store

    data = str(tmp_path / "data")
    assert CliRunner().invoke(cli, ["init", "--data-dir", data]).exit_code == 0
    outputs = []
    for _ in range(3):
        run = CliRunner().invoke(cli, ["run", "clean", "--data-dir", data])
        assert run.exit_code == 0, run.output
        outputs.append(run.output.strip())
    assert outputs == [
        "Claim CLM-1043 paid USD 4,200.00",
        "Claim CLM-1044 paid USD 4,200.00",
        "Claim CLM-1045 paid USD 4,200.00",
    ]
    fraud = CliRunner().invoke(cli, ["run", "fraud", "--data-dir", data])
    assert fraud.output.startswith("Claim CLM-1042 was blocked"), fraud.output
    with Store(data, create=False, readonly=True) as store:
        subjects = [r[0] for r in store.query("SELECT subject FROM workflow_runs")]
    assert len(subjects) == len(set(subjects)) == 4
