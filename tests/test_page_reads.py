"""Work per page view: what the first paint imports and how often the SPC page reads the store.

Real stores (tests/test_verify_tamper.py's ``build``), real app objects; the import check runs in
a fresh interpreter so nothing this test session imported counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_verify_tamper import Built, build

import govlib.apps.spc.dashboard as dashboard
from govlib.analysis.review import newest_call_at


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "data")


def test_executive_first_paint_imports_no_chart_libraries(built: Built) -> None:
    """altair and vl_convert are not needed before the executive page's first paint. (pandas is:
    the tool-health strip reads the SPC statistics, ``govlib.tool_stats``.)"""
    code = (
        "import sys\n"
        "from govlib.apps.executive.page import SpogApp\n"
        f"page = SpogApp({str(built.dir)!r})\n"
        "assert page.data['chain']['ok'], page.data['chain']\n"
        "print(sorted(m for m in ('altair', 'vl_convert') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_spc_page_reads_the_newest_call_once_per_load(built: Built, monkeypatch) -> None:
    reads: list[str | None] = []

    def counted(source, **kw):  # noqa: ANN001, ANN003, ANN202 - the real read, counted
        reads.append(newest_call_at(source, **kw))
        return reads[-1]

    monkeypatch.setattr(dashboard, "newest_call_at", counted)
    app = dashboard.SpcApp(built.dir)
    assert reads == ["2026-11-23T10:00:00.000000Z"]
    app.refresh()
    assert len(reads) == 2  # one more per reload, not two
    app.widget.close()
