"""govlib.capture.verdicts: stamp once, correct with a reason, every change a verdict event + WORM entry."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from govlib.capture.emitter import Emitter
from govlib.capture.fingerprint import output_hash
from govlib.capture.verdicts import (
    VerdictConflict,
    VerdictError,
    VerdictResult,
    correct_verdict,
    stamp_verdict,
)
from govlib.context import workflow
from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.keys import keyring_for
from govlib.evidence.people import person_name, pseudonym_of
from govlib.store.database import Store

T1 = "2026-02-01T10:00:00.000000Z"
T2 = "2026-02-02T11:30:00.000000Z"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    em = Emitter(s, synchronous=True, actor="agent")
    lookup = em.wrap(lambda c: {"ok": True, "claim": c}, name="lookup")
    with workflow("run-1"):
        for i in range(3):
            lookup(f"C-{i}")
    yield s
    s.close()


def pseudo(store, name):
    return pseudonym_of(keyring_for(store).pseudonym_key(), name)


def triple(store, audit_id):
    """The verdict triple as a page shows it: the stored pseudonym resolved to the name."""
    row = store.query(
        "SELECT human_verdict, verdict_by, verdict_at FROM audit_log WHERE id = ?", (audit_id,)
    )[0]
    return (row[0], person_name(store, row[1]), row[2])


def events(store, audit_id=None):
    sql = "SELECT * FROM verdict_events" + (" WHERE audit_id = ?" if audit_id else "")
    return [dict(r) for r in store.query(sql + " ORDER BY id", (audit_id,) if audit_id else ())]


def verdict_entries(store):
    return [
        e for e in worm.entries(store) if e["action"] in ("verdict_stamped", "verdict_corrected")
    ]


def test_stamp_writes_triple_event_and_worm_entry(store):
    result = stamp_verdict(2, "accept", "Ana Reviewer", store=store, at=T1)
    assert isinstance(result, VerdictResult) and result.changed
    assert result.describe() == f"Tool call 2: accept stamped by Ana Reviewer at {T1}."
    assert triple(store, 2) == ("accept", "Ana Reviewer", T1)
    assert triple(store, 1) == (None, None, None)
    [entry] = verdict_entries(store)
    ana = pseudo(store, "Ana Reviewer")  # rows and chained bodies hold the pseudonym
    assert entry["action"] == "verdict_stamped" and entry["ts"] == T1
    assert entry["run_id"] == "run-1" and entry["outcome"] == "accept"
    [bound] = entry["detail"].pop("bound")
    assert (bound["table"], bound["key"]) == ("verdict_events", "1")
    assert entry["detail"] == {
        "audit_id": 2,
        "output_hash": output_hash({"ok": True, "claim": "C-1"}),
        "verdict": "accept",
        "previous": None,
        "previous_by": None,
        "previous_at": None,
        "by": ana,
        "at": T1,
        "reason": None,
        "source": "human",
    }
    [event] = events(store)
    assert event == {
        "id": 1,
        "audit_id": 2,
        "verdict": "accept",
        "previous_verdict": None,
        "previous_by": None,
        "previous_at": None,
        "kind": "stamp",
        "verdict_by": ana,
        "verdict_at": T1,
        "reason": None,
        "worm_seq": entry["seq"],
    }
    assert (result.worm_seq, result.event_id) == (entry["seq"], 1)


def test_same_verdict_again_is_a_no_op(store):
    stamp_verdict(1, "reject", "Ana", store=store, at=T1)
    seq = worm.head(store)[0]
    again = stamp_verdict(1, "reject", "Bo", store=store, at=T2)
    assert again.changed is False
    assert (again.by, again.at) == ("Ana", T1)  # who actually stamped it
    assert "nothing changed" in again.describe()
    assert worm.head(store)[0] == seq and len(events(store)) == 1
    assert triple(store, 1) == ("reject", "Ana", T1)


def test_different_verdict_on_stamped_row_names_who_what_when(store):
    stamp_verdict(1, "accept", "Ana", store=store, at=T1)
    with pytest.raises(VerdictConflict) as info:
        stamp_verdict(1, "reject", "Bo", store=store, at=T2)
    msg = str(info.value)
    assert "'accept'" in msg and "Ana" in msg and T1 in msg and "--correct" in msg
    assert isinstance(info.value, GovlibError)
    assert triple(store, 1) == ("accept", "Ana", T1) and len(events(store)) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"audit_id": 999}, "audit_id: 999; no tool call"),
        ({"audit_id": 0}, "audit_id: 0; expected a positive integer"),
        ({"audit_id": "1"}, "audit_id: '1'"),
        ({"audit_id": True}, "audit_id: True"),
        ({"verdict": "maybe"}, "verdict: 'maybe'; expected one of accept, reject"),
        ({"verdict": "ACCEPT"}, "verdict: 'ACCEPT'"),
        ({"by": ""}, "by: ''; expected the reviewer's name"),
        ({"by": "   "}, "by: '   '"),
        ({"by": None}, "by: None"),
        ({"at": "last tuesday"}, "at: 'last tuesday'; expected an ISO-8601 time"),
    ],
)
def test_bad_stamp_requests_are_refused_and_write_nothing(store, kwargs, field):
    args = {"audit_id": 1, "verdict": "accept", "by": "Ana", "at": T1} | kwargs
    seq = worm.head(store)[0]
    with pytest.raises(VerdictError) as info:
        stamp_verdict(
            args.pop("audit_id"), args.pop("verdict"), args.pop("by"), store=store, **args
        )
    assert field in str(info.value)
    assert worm.head(store)[0] == seq and events(store) == []


def test_correction_replaces_triple_and_keeps_the_old_one(store):
    stamp_verdict(3, "accept", "Ana", store=store, at=T1)
    result = correct_verdict(3, "reject", "Bo", "wrong policy number", store=store, at=T2)
    assert result.changed and result.kind == "correct"
    assert (result.previous_verdict, result.previous_by, result.previous_at) == (
        "accept",
        "Ana",
        T1,
    )
    assert result.describe() == (
        f"Tool call 3: verdict corrected from accept (Ana, {T1}) to reject by Bo at {T2}; "
        "reason: wrong policy number."
    )
    assert triple(store, 3) == ("reject", "Bo", T2)
    first, second = events(store, 3)
    ana, bo = pseudo(store, "Ana"), pseudo(store, "Bo")
    assert (first["kind"], first["verdict"], first["verdict_by"]) == ("stamp", "accept", ana)
    assert second == second | {
        "kind": "correct",
        "verdict": "reject",
        "previous_verdict": "accept",
        "previous_by": ana,
        "previous_at": T1,
        "verdict_by": bo,
        "verdict_at": T2,
        "reason": "wrong policy number",
    }
    stamped, corrected = verdict_entries(store)
    assert corrected["action"] == "verdict_corrected" and corrected["seq"] == second["worm_seq"]
    assert corrected["detail"]["previous"] == "accept"
    assert corrected["detail"]["reason"] == "wrong policy number"
    assert corrected["detail"]["by"] == bo and corrected["detail"]["at"] == T2
    # correcting back is allowed too, and still loses nothing
    correct_verdict(3, "accept", "Cy", "second look", store=store, at="2026-02-03T00:00:00Z")
    assert [e["verdict"] for e in events(store, 3)] == ["accept", "reject", "accept"]


def test_correction_needs_a_reason_and_a_stamped_row(store):
    with pytest.raises(VerdictError, match="reason: ''; expected a non-empty reason"):
        correct_verdict(1, "reject", "Bo", "", store=store)
    with pytest.raises(VerdictError, match="reason: None"):
        correct_verdict(1, "reject", "Bo", None, store=store)
    with pytest.raises(VerdictError, match="has no verdict to correct"):
        correct_verdict(1, "reject", "Bo", "because", store=store)
    stamp_verdict(1, "reject", "Ana", store=store, at=T1)
    same = correct_verdict(1, "reject", "Bo", "because", store=store)
    assert same.changed is False and len(events(store)) == 1


def test_raw_update_of_the_triple_without_an_event_is_refused(store):
    with pytest.raises(sqlite3.IntegrityError, match="needs its verdict_events row"):
        store.execute(
            "UPDATE audit_log SET human_verdict = 'accept', verdict_by = 'x', verdict_at = ? "
            "WHERE id = 1",
            (T1,),
        )
    stamp_verdict(1, "accept", "Ana", store=store, at=T1)
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("UPDATE audit_log SET verdict_by = 'Mallory' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("UPDATE verdict_events SET verdict_by = 'Mallory'")
    assert triple(store, 1) == ("accept", "Ana", T1)


def test_a_failed_write_leaves_nothing_behind(store):
    """Fault injection: the UPDATE fails after the WORM entry and event: all three roll back."""
    store.execute(
        "CREATE TEMP TRIGGER fail_update BEFORE UPDATE ON main.audit_log "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    seq = worm.head(store)[0]
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        stamp_verdict(1, "accept", "Ana", store=store, at=T1)
    assert worm.head(store)[0] == seq and events(store) == [] and triple(store, 1) == (None,) * 3
    store.execute("DROP TRIGGER temp.fail_update")
    assert stamp_verdict(1, "accept", "Ana", store=store, at=T1).changed


def test_at_accepts_datetimes_and_defaults_to_now(store):
    from datetime import UTC, datetime, timedelta, timezone

    r = stamp_verdict(
        1,
        "accept",
        "Ana",
        store=store,
        at=datetime(2026, 2, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert r.at == "2026-02-01T10:00:00.000000Z"
    r2 = stamp_verdict(2, "reject", "Ana", store=store)
    assert r2.at.endswith("Z") and r2.at[:4] == str(datetime.now(UTC).year)


def test_verdicts_pass_verify(store):
    from govlib.evidence.verify import verify_store

    stamp_verdict(1, "accept", "Ana", store=store, at=T1)
    correct_verdict(1, "reject", "Bo", "typo", store=store, at=T2)
    stamp_verdict(2, "accept", "Ana", store=store, at=T1)
    result = verify_store(store)
    assert result.ok, result.summary


def test_store_none_opens_the_default_data_dir(tmp_path):
    data = tmp_path / "data"
    s = Store(data)
    Emitter(s, synchronous=True).wrap(lambda: 1, name="one")()
    s.close()
    script = (
        "from govlib.capture.verdicts import stamp_verdict\n"
        "print(stamp_verdict(1, 'accept', 'Ana', at='2026-02-01T10:00:00Z').describe())\n"
    )
    env = {"GOVLIB_DATA_DIR": str(data), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Tool call 1: accept stamped by Ana at {T1}."
    with Store(data) as s:
        assert triple(s, 1) == ("accept", "Ana", T1)


def test_concurrent_stamps_on_one_row_leave_exactly_one(tmp_path):
    s = Store(tmp_path)
    Emitter(s, synchronous=True).wrap(lambda: 1, name="one")()
    s.close()
    script = (
        "import sys\n"
        "from govlib.store.database import Store\n"
        "from govlib.capture.verdicts import stamp_verdict, VerdictConflict\n"
        "with Store(sys.argv[1]) as s:\n"
        "    try:\n"
        "        r = stamp_verdict(1, sys.argv[2], sys.argv[3], store=s)\n"
        "        print('changed' if r.changed else 'same')\n"
        "    except VerdictConflict:\n"
        "        print('conflict')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), v, f"r{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, v in enumerate(["accept", "reject"] * 3)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert outs.count("changed") == 1
    assert outs.count("changed") + outs.count("same") + outs.count("conflict") == 6
    with Store(tmp_path) as s:
        assert len(events(s)) == 1 and len(verdict_entries(s)) == 1
        (winner,) = [e["verdict"] for e in events(s)]
        assert triple(s, 1)[0] == winner


def test_stamped_event_carries_json_detail(store):
    stamp_verdict(1, "accept", "Zoë", store=store, at=T1)
    raw = store.query_one("SELECT detail FROM worm_log WHERE action = 'verdict_stamped'")
    by = json.loads(raw)["by"]  # the chained body holds the pseudonym, never the name
    assert by == pseudonym_of(keyring_for(store).pseudonym_key(), "Zoë") != "Zoë"
    assert person_name(store, by) == "Zoë"
