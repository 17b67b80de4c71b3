"""Corruption: a damaged store is reported in one clear line and never "repaired".

A real store (ClaimsFlow runs, verdicts, receipts, signed checkpoints) is closed cleanly, then its
SQLite file is damaged in several ways: bytes flipped on every page, on the table pages only (the
schema still reads), a few random bytes; truncated to a third, mid-page, to 100 bytes, to nothing;
a garbage header. For each: ``govlib status`` and ``govlib verify`` (real subprocesses) exit
non-zero with one readable line and no traceback, and the file's bytes are the same afterwards
(nothing rewrites evidence). The apps' data functions raise a ``GovlibError`` and the apps show an
error box (``govlib.apps.widgets.build_or_error``) instead of crashing.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from govlib.capture.emitter import Emitter
from govlib.capture.verdicts import stamp_verdict
from govlib.demo.claimsflow import run_scenario
from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.keys import HMAC_KEYS_FILE
from govlib.store.database import Store

#: Fault-injection matrix: part of `make test`, left out of the `make test-fast` inner loop.
pytestmark = pytest.mark.slow

GOVLIB = [sys.executable, "-m", "govlib"]
PAGE = 4096


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, claimsflow_template: Path, without_service_wait: Any
) -> Path:
    data = tmp_path_factory.mktemp("corruption") / "data"
    shutil.copytree(claimsflow_template, data)  # ClaimsFlow set up, one clean run (conftest)
    with without_service_wait(), Store(data) as store:
        run_scenario(store, "fraud")
        em = Emitter(store, synchronous=True, actor="analyst", tenant="acme")
        f = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
        with em.batch():
            for i in range(300):
                f(i)
        stamp_verdict(3, "accept", "Ana Reviewer", store=store)
        worm.append(store, "note", outcome="ok")
        sign_checkpoint(store)
    for suffix in ("-wal", "-shm"):  # closed cleanly: everything is in the main file
        assert not Path(f"{data}/govlib.sqlite{suffix}").exists()
    return data


def _flip(start_page: int, step: int = 97) -> Callable[[bytearray], bytes]:
    def damage(b: bytearray) -> bytes:
        for i in range(start_page * PAGE, len(b), step):
            b[i] ^= 0xA5
        return bytes(b)

    return damage


def _flip_random(b: bytearray) -> bytes:
    rng = random.Random(20261123)
    for _ in range(20):
        b[rng.randrange(PAGE, len(b))] ^= 0xFF
    return bytes(b)


DAMAGE: dict[str, Callable[[bytearray], bytes]] = {
    "flipped-every-page": _flip(1),
    "flipped-table-pages": lambda b: _flip(len(b) // PAGE * 7 // 10, 61)(b),  # schema reads
    "truncated-to-a-third": lambda b: bytes(b[: len(b) // 3 // PAGE * PAGE]),
    "truncated-mid-page": lambda b: bytes(b[: len(b) - PAGE - 1000]),
    "truncated-to-100-bytes": lambda b: bytes(b[:100]),
    "truncated-to-nothing": lambda b: b"",
    "garbage-header": lambda b: b"this is not SQLite, it is noise!" + bytes(b[32:]),
}


def _damaged(template: Path, tmp_path: Path, how: str) -> Path:
    data = tmp_path / "data"
    shutil.copytree(template, data)
    db = data / "govlib.sqlite"
    db.write_bytes(DAMAGE[how](bytearray(db.read_bytes())))
    return data


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*GOVLIB, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("how", list(DAMAGE))
def test_status_and_verify_report_damage_in_one_line(
    template: Path, tmp_path: Path, how: str
) -> None:
    data = _damaged(template, tmp_path, how)
    db = data / "govlib.sqlite"
    before = _digest(db)
    status = _cli("status", "--data-dir", data)
    verify = _cli("verify", "--data-dir", data)
    print(f"\n[corruption] {how}:\n  status exit {status.returncode}: "
          f"{(status.stdout + status.stderr).strip().splitlines()[1:2]}\n  verify exit "
          f"{verify.returncode}: {(verify.stdout + verify.stderr).strip()[:160]}")  # fmt: skip
    assert _digest(db) == before, "status/verify changed the bytes of the damaged store"
    for p in (status, verify):
        assert "Traceback" not in p.stderr, p.stderr[-2000:]
    assert status.returncode != 0
    errors = [x for x in status.stdout.splitlines() if x.startswith("ERROR: ")]
    assert len(errors) == 1 and str(db) in errors[0], status.stdout
    known = ("Data dir: ", "ERROR: ", "Emitter counters: ", "Lake watermark: ")
    stray = [x for x in status.stdout.splitlines() if not x.startswith(known)]
    assert not stray, f"the error runs over several lines: {stray[:3]}"
    assert verify.returncode in (1, 2)
    lines = (verify.stdout + verify.stderr).strip().splitlines()
    assert lines[0].startswith(("Error: ", "Verification failed: ", "Chain broken at seq ")), lines
    # one summary line; `verify` may list the individual problems under it, indented
    assert all(x.startswith("  ") for x in lines[1:]), lines


def test_a_few_random_flipped_bytes(template: Path, tmp_path: Path) -> None:
    """Where 20 random bytes land is luck: whatever is reported, it is one clean line."""
    data = tmp_path / "data"
    shutil.copytree(template, data)
    db = data / "govlib.sqlite"
    db.write_bytes(_flip_random(bytearray(db.read_bytes())))
    before = _digest(db)
    for verb in ("status", "verify"):
        p = _cli(verb, "--data-dir", data)
        assert "Traceback" not in p.stderr, p.stderr[-2000:]
        if p.returncode:
            text = p.stdout + p.stderr
            assert "ERROR: " in text or text.startswith(("Error: ", "Verification", "Chain"))
    assert _digest(db) == before


# --- the apps ---------------------------------------------------------------------------------------
def _html_of(widget) -> str:  # noqa: ANN001 - any ipywidget
    parts = [str(getattr(widget, "value", "") or "")]
    for child in getattr(widget, "children", ()) or ():
        parts.append(_html_of(child))
    return "\n".join(parts)


@pytest.mark.parametrize(
    "how", ["flipped-every-page", "flipped-table-pages", "truncated-to-a-third", "garbage-header"]
)
def test_data_functions_raise_a_govlib_error(template: Path, tmp_path: Path, how: str) -> None:
    spog_data = pytest.importorskip("govlib.analysis.executive")
    spc_data = pytest.importorskip("govlib.analysis.review")
    data = _damaged(template, tmp_path, how)
    before = _digest(data / "govlib.sqlite")
    calls = {
        "load_spog": lambda s: spog_data.load_spog(s),
        "list_runs": lambda s: spog_data.list_runs(s),
        "query_calls": lambda s: spc_data.query_calls(s, spc_data.CallFilter()),
        "choices": lambda s: spc_data.choices(s),
        "recent_runs": lambda s: spc_data.recent_runs(s, "claims"),
    }
    wrong = {}
    for name, fn in calls.items():
        try:
            with Store(data, create=False, readonly=True) as store:
                fn(store)
        except GovlibError as exc:
            assert str(data / "govlib.sqlite") in str(exc) or "store" in str(exc), str(exc)
        except Exception as exc:  # noqa: BLE001 - what we are looking for
            wrong[name] = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        else:
            wrong[name] = "no error on a damaged store"
    assert _digest(data / "govlib.sqlite") == before
    assert not wrong, f"expected a GovlibError naming the store; got {wrong}"


@pytest.mark.parametrize(
    "how", ["flipped-table-pages", "truncated-to-a-third", "truncated-to-nothing"]
)
def test_apps_show_an_error_box(template: Path, tmp_path: Path, how: str) -> None:
    common = pytest.importorskip("govlib.apps.widgets")
    spog = pytest.importorskip("govlib.apps.executive.page")
    spc = pytest.importorskip("govlib.apps.spc.dashboard")
    data = _damaged(template, tmp_path, how)
    db = data / "govlib.sqlite"
    before = _digest(db)
    key_hex = [v for v in __import__("json").loads((data / HMAC_KEYS_FILE).read_text())
               ["keys"].values()]  # fmt: skip
    shown = {
        "spog": common.build_or_error(lambda: spog.SpogApp(data).widget, what="the executive view"),
        "spc": common.build_or_error(lambda: spc.SpcApp(data).widget, what="the SPC dashboard"),
    }
    for name, widget in shown.items():
        html = _html_of(widget)
        assert 'role="alert"' in html, f"{name}: no error box for a damaged store"
        assert str(db) in html or "store" in html or "database" in html, (
            f"{name}: the error box does not say what broke:{html[-600:]}"
        )
        assert not any(k in html for k in key_hex), f"{name}: key material in the page"
    assert _digest(db) == before, "opening the apps changed the bytes of the damaged store"
