"""The README's demo claims about the SPC dashboard hold on a freshly built demo store.

Step 4 of "The 3-minute demo" names tools with their drift badge and the tool whose "Schema
valid" pill is amber; this test reads those claims from the README itself and checks each one
against :func:`govlib.analysis.stats.tool_stats` on the session's demo store, so the README
cannot drift from the demo.
"""

from __future__ import annotations

import re
from pathlib import Path

from govlib.analysis import stats
from govlib.analysis.read_path import connect
from govlib.settings import load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def step_4() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("4. Open the **SPC dashboard**")
    return " ".join(text[start : text.index("\n5. ", start)].split())


def badge_claims(step: str) -> dict[str, str]:
    """Tool -> badge, from "`tool` carries a **drift** badge" / "`tool` a **watch** badge"."""
    return dict(re.findall(r"`(\w+)` (?:carries )?a \*\*(drift|watch|stable)\*\* badge", step))


def test_readme_step_4_claims_are_parsed():
    claims = badge_claims(step_4())
    assert claims == {
        "policy_lookup": "drift",
        "document_extraction": "drift",
        "claim_history": "watch",
    }
    assert re.search(r"`fraud_scoring` shows an amber \*\*Schema valid\*\* pill", step_4())


def test_readme_step_4_claims_hold_on_the_demo_store(demo_template: Path):
    df = stats.tool_stats(connect(demo_template), settings=load_settings(demo_template))
    rows = df.set_index("tool_name")
    for tool, badge in badge_claims(step_4()).items():
        assert rows.loc[tool, "drift"] == badge, (tool, rows.loc[tool, "drift_signals"])
    others = set(rows.index) - set(badge_claims(step_4()))
    assert (rows.loc[sorted(others), "drift"] == "stable").all()  # the README names every badge
    schema = re.search(r"`(\w+)` shows an (\w+) \*\*Schema valid\*\* pill", step_4())
    tool, colour = schema.groups()
    assert rows.loc[tool, "schema_valid_pill"] == colour
    assert rows.loc[tool, "schema_declared"]
    assert (rows.drop(index=tool)["schema_valid_rate"] == 1.0).all()
    assert "newest 500 calls" in step_4() and "**Flagged calls**" in step_4()
