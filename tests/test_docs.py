"""The docs agree with the code: generated settings page, every table and column, SPC thresholds."""

from __future__ import annotations

import json
import re
from pathlib import Path

from govlib.cli.docs import main, settings_table
from govlib.settings import SETTINGS
from govlib.store import schema
from govlib.store.database import Store

DOCS = Path(__file__).resolve().parent.parent / "docs"
DEFAULTS = {s.name: s.default for s in SETTINGS}


def test_settings_page_is_the_generated_one():
    assert (DOCS / "settings.md").read_text(encoding="utf-8") == settings_table(), (
        "docs/settings.md is out of date: run `python -m govlib.cli.docs`"
    )
    assert main(["--check"]) == 0


def test_settings_page_lists_every_setting_with_its_default_and_variable():
    text = settings_table()
    for s in SETTINGS:
        row = f"| `{s.name}` | `{json.dumps(s.default)}` | `GOVLIB_{s.name.upper()}` |"
        assert row in text, s.name


def test_data_model_documents_every_table_and_column_in_order():
    text = (DOCS / "data_model.md").read_text(encoding="utf-8")
    store = Store(memory=True)
    sections = re.split(r"^### `(\w+)`$", text, flags=re.M)
    documented = dict(zip(sections[1::2], sections[2::2], strict=True))
    assert list(documented) == list(schema.TABLES)
    for table in schema.TABLES:
        columns = [r[1] for r in store.conn.execute(f"PRAGMA table_xinfo({table})")]
        rows = re.findall(r"^\| `(\w+)` \| [A-Z]+ \|", documented[table], flags=re.M)
        assert rows == columns, table
    for table in schema.APPEND_ONLY:
        assert f"| `{table}` | append-only" in text, table


def test_spc_page_quotes_the_current_thresholds():
    text = (DOCS / "spc.md").read_text(encoding="utf-8")
    quoted = re.findall(r"`(\w+)`\s+\(([\d.]+)\)", text)
    assert quoted
    for name, value in quoted:
        assert name in DEFAULTS, name
        assert float(value) == DEFAULTS[name], f"{name}: docs say {value}, default {DEFAULTS[name]}"
    needed = {s.name for s in SETTINGS if s.group in ("pills", "spc", "sampling", "drift")}
    assert needed <= {name for name, _ in quoted}, needed - {name for name, _ in quoted}
