"""The verified point shared by a data dir's processes (``DIR/cache/verified_point.json``).

A new Voilà kernel starts its page's verification from the point another govlib process stored
instead of verifying the whole chain again; a point it cannot trust (no valid HMAC, another
store file, a "failed" mark) sends it back to a full verification.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_verify_incremental import edit_old_entry_in_place, page_view
from test_verify_tamper import Built, build

from govlib.analysis import trust
from govlib.analysis.trust import forget_verified, verified_state
from govlib.evidence import worm
from govlib.evidence.verified_point import (
    VERIFIED_POINT_FILE,
    point_from_record,
    point_record,
)
from govlib.evidence.verify import VerifiedPoint
from govlib.store.database import Store


@pytest.fixture(autouse=True)
def _fresh_process_memory() -> None:
    forget_verified()


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "data", checkpoint_every=1000)


def stored(b: Built) -> dict:
    return json.loads((b.dir / VERIFIED_POINT_FILE).read_text())


def new_process_view(b: Built) -> dict:
    """A page view in a process that has verified nothing yet (a new kernel)."""
    forget_verified()
    return page_view(b)


def test_a_new_process_starts_from_the_stored_point(built: Built) -> None:
    first = page_view(built)
    assert (first["ok"], first["incremental"], first["entries"]) == (True, False, 17)
    record = stored(built)
    assert (record["seq"], record["live_entries"], record["key_id"]) == (17, 17, "k1")
    path = built.dir / VERIFIED_POINT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with Store(built.dir) as store:
        worm.append(store, "note", detail={"after": "the point"})
    second = new_process_view(built)
    assert (second["ok"], second["incremental"], second["verified_from"]) == (True, True, 17)
    assert second["entries"] == 18
    assert stored(built)["seq"] == 18  # moved on for the next process


def test_another_real_process_starts_from_it(built: Built) -> None:
    assert page_view(built)["ok"]
    code = (
        "import json, sys\n"
        "from govlib.analysis.trust import verified_state\n"
        "from govlib.store.database import Store\n"
        "with Store.open_for_reading(sys.argv[1]) as s:\n"
        "    st = verified_state(s)\n"
        "print(json.dumps([st['ok'], st['incremental'], st['verified_from']]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(built.dir)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, 17]


def test_a_forged_point_is_ignored(built: Built) -> None:
    """Written without the HMAC key (seq moved on to skip entries): a full verification."""
    assert page_view(built)["ok"]
    path = built.dir / VERIFIED_POINT_FILE
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"seq": 16}))
    state = new_process_view(built)
    assert (state["ok"], state["incremental"]) == (True, False)


def test_a_point_of_another_store_file_is_ignored(built: Built, tmp_path: Path) -> None:
    """A copy of the data dir (a restore, say) is another file: its pages verify in full."""
    assert page_view(built)["ok"]
    copy = tmp_path / "copy"
    shutil.copytree(built.dir, copy)
    assert (copy / VERIFIED_POINT_FILE).is_file()
    with Store.open_for_reading(copy) as store:
        state = verified_state(store)
    assert (state["ok"], state["incremental"]) == (True, False)


def test_a_failure_marks_the_point_and_a_stale_process_cannot_clear_it(built: Built) -> None:
    """Kernel A remembers a point; a full verification elsewhere finds an old entry edited (the
    incremental check's blind spot); A's next page view (still green: its point predates the
    edit) must not hand its point to new kernels, which verify in full and see the damage."""
    assert page_view(built)["ok"]
    kernel_a = dict(trust._VERIFIED)
    edit_old_entry_in_place(built.db)
    with Store.open_for_reading(built.dir) as store:
        assert verified_state(store, full=True)["bad_seq"] == 2
    assert stored(built) == {"format": 1, "failed": True}
    trust._VERIFIED.update(kernel_a)
    with Store(built.dir) as store:
        worm.append(store, "note", detail={"i": 1})
    assert page_view(built)["incremental"] is True  # kernel A: its own point
    assert stored(built) == {"format": 1, "failed": True}
    state = new_process_view(built)
    assert (state["ok"], state["incremental"], state["bad_seq"]) == (False, False, 2)


def test_a_full_verification_clears_the_failed_mark(built: Built) -> None:
    path = built.dir / VERIFIED_POINT_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "failed": True}))
    assert new_process_view(built)["incremental"] is False
    assert stored(built)["seq"] == 17
    assert new_process_view(built)["incremental"] is True


def test_an_unwritable_cache_folder_loses_nothing(built: Built) -> None:
    """The cache path taken by a plain file: the page still verifies (in full, every time)."""
    (built.dir / "cache").write_text("not a folder")
    assert page_view(built)["ok"]
    assert new_process_view(built)["incremental"] is False


_points = st.builds(
    VerifiedPoint,
    st.integers(1, 10**9),
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.integers(0, 10**9),
    st.integers(0, 10**6),
    st.tuples(st.integers(0, 10**9), st.text("0123456789abcdef", max_size=64)),
    st.lists(
        st.tuples(st.sampled_from(["audit_log", "token_ledger"]), st.integers(0), st.integers(0)),
        max_size=3,
    ).map(tuple),
)


@given(_points, st.text(min_size=1, max_size=40))
def test_a_record_round_trips_and_any_edit_voids_it(point: VerifiedPoint, identity: str) -> None:
    keys = {"k1": b"k" * 32}
    record = point_record(point, identity, "k1", keys["k1"])
    assert point_from_record(json.loads(json.dumps(record)), identity, keys) == point
    for field in ("seq", "live_entries", "schema"):
        assert point_from_record(record | {field: record[field] + 1}, identity, keys) is None
    assert point_from_record(record, identity + "x", keys) is None
    assert point_from_record(record, identity, {"k1": b"j" * 32}) is None
    assert point_from_record(record | {"key_id": "k2"}, identity, keys) is None


def test_govlib_serve_start_verifies_in_full(built: Built) -> None:
    """The landing page's chain status at `govlib serve` start never starts from a stored point:
    an old entry edited in place while the server was down turns it red."""
    from govlib.cli.serve import _chain_facts

    assert page_view(built)["ok"]
    edit_old_entry_in_place(built.db)
    assert new_process_view(built)["ok"] is True  # the stored point's blind spot
    forget_verified()
    facts = _chain_facts(built.dir)
    assert facts["ok"] is False and "seq 2" in str(facts["text"])
