"""The lake heals: a damaged Parquet lake is read around, reported, quarantined and rebuilt.

The lake (``DIR/lake/``) is a cache of SQLite. For each kind of damage — a file truncated to
300 bytes, bytes flipped inside a file, a table's folder deleted, the watermark garbled, the whole
lake deleted — on a copy of the ``govlib demo`` store:

- the read path falls back to SQLite for the damaged table (same figures as SQLite) and the SPC
  dashboard builds without an error box, with the yellow lake note;
- ``report_data`` works;
- ``export_lake`` moves the damaged table's lake to ``DIR/lake-quarantine/<time>/`` (nothing
  deleted, ``problems.json`` beside it) and rebuilds it from SQLite; a second ``connect`` reads
  the lake clean.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from govlib.analysis.export import QUARANTINE_DIRNAME, export_lake
from govlib.analysis.read_path import (
    LAKE_TABLES,
    WATERMARK_FILE,
    connect,
    lake_files,
    lake_note,
    lake_problems,
)
from govlib.apps.spc.dashboard import SpcApp
from govlib.report.contents import report_data
from govlib.store.database import Store

#: Heavy stores, servers or fault injection: `make test` runs these, `make test-fast` does not.
pytestmark = pytest.mark.slow


def _truncate(data: Path) -> str:
    victim = lake_files(data, "audit_log")[0]
    with open(victim, "r+b") as fh:
        fh.truncate(300)
    return "audit_log"


def _flip(data: Path) -> str:
    victim = max(lake_files(data, "worm_log"), key=lambda f: f.stat().st_size)
    raw = bytearray(victim.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16] = bytes(b ^ 0xFF for b in raw[middle : middle + 16])
    victim.write_bytes(bytes(raw))
    return "worm_log"


def _delete_table(data: Path) -> str:
    shutil.rmtree(data / "lake" / "token_ledger")
    return "token_ledger"


def _garble_watermark(data: Path) -> str:
    (data / "lake" / WATERMARK_FILE).write_text('{"last": {"audit_log": ')
    return "*"


def _delete_lake(data: Path) -> str:
    shutil.rmtree(data / "lake")
    return ""  # no lake at all: nothing damaged to report, everything read from SQLite


DAMAGE: dict[str, Callable[[Path], str]] = {
    "truncated-to-300-bytes": _truncate,
    "flipped-bytes": _flip,
    "table-folder-deleted": _delete_table,
    "watermark-garbled": _garble_watermark,
    "lake-deleted": _delete_lake,
}


def _sqlite_counts(data: Path) -> dict[str, int]:
    with Store(data, create=False, readonly=True) as store:
        return {t: store.count(t) for t in LAKE_TABLES}


def _lake_counts(con) -> dict[str, int]:  # noqa: ANN001 - a DuckDB connection
    return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in LAKE_TABLES}  # noqa: S608


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_lake_is_read_around_then_quarantined_and_rebuilt(
    demo_dir: Path, kind: str
) -> None:
    assert lake_problems(demo_dir) == []
    expected = _sqlite_counts(demo_dir)
    table = DAMAGE[kind](demo_dir)

    # the read path: SQLite for the damaged table, a note naming the problem
    problems = lake_problems(demo_dir)
    assert {p.table for p in problems} == ({table} if table else set()), problems
    con = connect(demo_dir)
    assert _lake_counts(con) == expected
    note = lake_note(con)
    if table:
        assert note and "govlib export" in note and problems[0].path in note, note
    else:
        assert note is None

    # the SPC dashboard builds, with the yellow note; the report's data is there
    dash = SpcApp(demo_dir)
    assert "gl-error-box" not in json.dumps([w.value for w in dash.widget.children[:4]])
    assert ("gl-lake-note" in dash.lake_note.value) == bool(table)
    assert dash.tool_table.data, "no tool statistics"
    with Store(demo_dir, create=False, readonly=True) as store:
        assert report_data(store, period="30d")["spc"]

    # export: quarantine (nothing deleted) and rebuild from SQLite
    summary = export_lake(demo_dir)
    if table:
        quarantine = Path(summary["quarantined"])
        assert quarantine.parent == demo_dir / QUARANTINE_DIRNAME
        moved = json.loads((quarantine / "problems.json").read_text())["problems"]
        assert [p["path"] for p in moved] == [p.path for p in problems]
        for p in problems:  # the damaged file itself is kept, under the quarantine folder
            if p.path.endswith(".parquet") or p.path.endswith(".json"):
                assert (quarantine / Path(p.path).relative_to("lake")).exists(), p.path
        assert "moved aside" in summary["message"]
    else:
        assert summary["quarantined"] is None
    assert lake_problems(demo_dir) == []
    again = connect(demo_dir)
    assert lake_note(again) is None
    assert _lake_counts(again) == expected
    assert summary["watermark"] == {
        t: max(0, *(r[0] for r in again.execute(f"SELECT MAX({k}) FROM {t}").fetchall()))  # noqa: S608
        for t, k in LAKE_TABLES.items()
    }
    print(f"\n[lake {kind}] {note or 'no note (no lake)'}"[:300])


def test_an_older_lake_without_digests_is_read_in_full(demo_dir: Path) -> None:
    """A lake exported before digests were recorded: a damaged file is found by reading it."""
    wm = demo_dir / "lake" / WATERMARK_FILE
    doc = json.loads(wm.read_text())
    doc.pop("files", None)
    wm.write_text(json.dumps(doc))
    assert lake_problems(demo_dir) == []
    _truncate(demo_dir)
    [problem] = lake_problems(demo_dir)
    assert problem.table == "audit_log" and "unreadable Parquet" in problem.problem
    export_lake(demo_dir)
    assert lake_problems(demo_dir) == []
    assert "files" in json.loads(wm.read_text())  # digests recorded from now on


def test_a_file_the_export_did_not_write_is_not_double_counted(demo_dir: Path) -> None:
    expected = _sqlite_counts(demo_dir)
    first = lake_files(demo_dir, "audit_log")[0]
    stray = first.with_name("part-000000000001-000000000001.parquet")
    shutil.copy(first, stray)
    [problem] = lake_problems(demo_dir)
    assert "not in the manifest" in problem.problem
    assert _lake_counts(connect(demo_dir)) == expected
    export_lake(demo_dir)
    assert lake_problems(demo_dir) == [] and _lake_counts(connect(demo_dir)) == expected
