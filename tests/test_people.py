"""Personal data under the chain: pseudonyms in chained bodies and rows, names erasable.

Real file stores: a reviewer and the people who trigger and reset the kill-switch are written as
keyed pseudonyms; `govlib purge --person NAME` erases the name; verify still passes, pages show
"erased person", and a tampered pseudonym still fails verify.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from govlib.analysis.review import CallFilter, query_calls
from govlib.capture.rows import insert_audit_batch
from govlib.capture.verdicts import correct_verdict, stamp_verdict
from govlib.cli.main import cli
from govlib.evidence.keys import PSEUDONYM_KEY_FILE, KeyMaterialError, KeyRing, keyring_for
from govlib.evidence.people import ERASED, person_name, pseudonym_of
from govlib.evidence.verify import verify_store
from govlib.governance.killswitch import KillSwitch
from govlib.store.database import Store

NAMES = ("Dana Ortiz", "Sam Lee", "Ana Reviewer", "Bo Checker")


def _write(data: Path) -> None:
    with Store(data) as store:
        rows = [("t", "lookup", "agent-1", None, 1, 1, 3, f"{i:08x}", None, 0) for i in range(3)]
        insert_audit_batch(store, rows)
        ks = KillSwitch(store)
        ks.trigger("Dana Ortiz", "incident 42")
        ks.reset("Sam Lee", "fixed")
        stamp_verdict(1, "accept", "Ana Reviewer", store=store)
        correct_verdict(1, "reject", "Bo Checker", "wrong claim", store=store)
        stamp_verdict(2, "accept", "Ana Reviewer", store=store)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    _write(path)
    return path


def _chained_and_bound_text(db: Path) -> str:
    """Everything the chain holds or binds, as text (the people table left out)."""
    conn = sqlite3.connect(db)
    try:
        parts = [str(r) for r in conn.execute("SELECT body FROM worm_log")]
        for table in ("kill_switch_events", "verdict_events", "audit_log"):
            parts += [str(r) for r in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608
        return "\n".join(parts)
    finally:
        conn.close()


def _verify(data: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", "--data-dir", str(data), *extra])
    return result.exit_code, result.output


def test_names_never_reach_the_chain_or_the_bound_rows(data: Path) -> None:
    text = _chained_and_bound_text(data / "govlib.sqlite")
    for name in NAMES:
        assert name not in text
    with Store.open_for_reading(data) as store:
        key = keyring_for(store).pseudonym_key(create=False)
        for name in NAMES:
            assert pseudonym_of(key, name) in text
        assert sorted(r["name"] for r in store.query("SELECT name FROM people")) == sorted(NAMES)
        state = KillSwitch(store).state()
        assert (state.state, state.by) == ("armed", "Sam Lee")
        page = query_calls(store, CallFilter(oldest_first=True, unreviewed_first=False))
        assert [r["verdict_by"] for r in page.rows] == ["Bo Checker", "Ana Reviewer", None]
        assert verify_store(store).ok


def test_purge_person_erases_the_name_and_the_chain_still_verifies(data: Path) -> None:
    result = CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--person", "Sam Lee"])
    assert result.exit_code == 0, result.output
    assert "Erased the name behind person:" in result.output
    code, out = _verify(data)
    assert code == 0, out
    with Store.open_for_reading(data) as store:
        names = sorted(r["name"] for r in store.query("SELECT name FROM people"))
        assert names == sorted(set(NAMES) - {"Sam Lee"})
        assert KillSwitch(store).state().by == ERASED
        assert "reset by erased person" in KillSwitch(store).state().describe()
        [erased] = store.query("SELECT body FROM worm_log WHERE action = 'person_erased'")
        assert "Sam Lee" not in erased["body"]
    for file in data.glob("govlib.sqlite*"):  # the store and its WAL: no copy of the name left
        assert b"Sam Lee" not in file.read_bytes(), file.name
    # a reviewer: the review table shows "erased person" where the name was
    CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--person", "Ana Reviewer"])
    with Store.open_for_reading(data) as store:
        page = query_calls(store, CallFilter(oldest_first=True, unreviewed_first=False))
        assert [r["verdict_by"] for r in page.rows] == ["Bo Checker", ERASED, None]
    assert _verify(data)[0] == 0
    again = CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--person", "Sam Lee"])
    assert again.exit_code == 0 and "nothing erased" in again.output


def test_a_tampered_pseudonym_still_fails_verify_after_erasure(data: Path) -> None:
    CliRunner().invoke(cli, ["purge", "--data-dir", str(data), "--person", "Dana Ortiz"])
    conn = sqlite3.connect(data / "govlib.sqlite", isolation_level=None)
    try:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = "
            "'kill_switch_events'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        # swap who reset the switch for who triggered it: both are pseudonyms of real people
        conn.execute(
            "UPDATE kill_switch_events SET by = (SELECT by FROM kill_switch_events WHERE id = 1) "
            "WHERE id = 2"
        )
    finally:
        conn.close()
    code, out = _verify(data)
    assert code != 0
    assert "kill_switch_events" in out


def test_purge_needs_exactly_one_of_before_or_person(data: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(
        cli, ["purge", "--data-dir", str(data), "--person", "X", "--before", "2020-01-01"]
    )
    assert both.exit_code == 2 and "exactly one of --before" in both.output
    assert runner.invoke(cli, ["purge", "--data-dir", str(data)]).exit_code == 2
    blank = runner.invoke(cli, ["purge", "--data-dir", str(data), "--person", "  "])
    assert blank.exit_code == 2 and "--person" in blank.output


def test_the_pseudonym_key_is_private_and_stable(data: Path) -> None:
    path = data / PSEUDONYM_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = KeyRing.load(data).pseudonym_key()
    assert KeyRing.load(data).pseudonym_key() == first  # the same person, the same pseudonym
    with Store(data) as store:
        assert keyring_for(store).rotate() == "k2"  # rotating chain keys keeps pseudonyms
        stamp_verdict(3, "accept", "Ana Reviewer", store=store)
        by = store.query_one("SELECT verdict_by FROM audit_log WHERE id = 3")
        assert by == pseudonym_of(first, "Ana Reviewer")
    os.chmod(path, 0o644)
    with pytest.raises(KeyMaterialError, match="mode 644"):
        KeyRing.load(data).pseudonym_key()


def test_names_written_in_clear_before_pseudonyms_still_verify_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written before this version holds names in clear: they stay, and verify passes."""
    import govlib.capture.verdicts as verdicts
    import govlib.governance.killswitch as killswitch

    data = tmp_path / "data"
    with monkeypatch.context() as old_writer:  # the writers as they were: the name as given
        old_writer.setattr(verdicts, "pseudonymise", lambda store, name: name)
        old_writer.setattr(killswitch, "pseudonymise", lambda store, name: name)
        _write(data)
    with Store(data) as store:
        KillSwitch(store).trigger("Eve New", "after the upgrade")
        assert store.query_one("SELECT COUNT(*) FROM people") == 1
        assert [r[0] for r in store.query("SELECT by FROM kill_switch_events ORDER BY id")][:2] == [
            "Dana Ortiz",
            "Sam Lee",
        ]
        assert person_name(store, "Sam Lee") == "Sam Lee"
        assert KillSwitch(store).state().by == "Eve New"
        assert verify_store(store).ok
