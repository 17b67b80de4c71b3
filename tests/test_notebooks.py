"""Every notebook runs top to bottom on a fresh demo store; apps stay thin; analyst notebooks import
only govlib, the declared stack and the standard library."""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"  # the analyst notebooks (JupyterLab is their home)
APP_DIR = ROOT / "govlib" / "apps" / "notebooks"  # the Voila apps ship in the package
APPS = ("executive_spog.ipynb", "spc_dashboard.ipynb")
ANALYST = tuple(sorted(p.name for p in NB_DIR.glob("*.ipynb")))
NOTEBOOKS = sorted(APPS + ANALYST)
#: What analyst notebooks may import besides the standard library.
DECLARED_STACK = {"govlib", "pandas", "numpy", "altair", "duckdb", "ipywidgets", "pyarrow"}
WIDGET = "application/vnd.jupyter.widget-view+json"


def _folder(name: str) -> Path:
    return APP_DIR if name in APPS else NB_DIR


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(_folder(name) / name, as_version=4)


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _imported(source: str) -> list[str]:
    """Top-level package of every import in a cell (a cell must be plain Python)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a notebook"
            names.append((node.module or "").split(".")[0])
    return names


def _execute(name: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("GOVLIB_DATA_DIR", str(data_dir))  # the kernel inherits os.environ
    nb = _read(name)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(_folder(name))}}
    )
    client.execute()  # raises CellExecutionError naming the cell on the first error
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def test_the_expected_notebooks_are_there():
    assert sorted(p.name for p in APP_DIR.glob("*.ipynb")) == sorted(APPS)
    assert not set(APPS) & set(ANALYST)  # one copy of each app, in the package
    assert {"spc_deep_dive.ipynb", "cost_analysis.ipynb", "audit_verification.ipynb"} <= set(
        ANALYST
    )


def _files(folder: Path) -> set[str]:
    """Files under a data dir, without SQLite's transient -wal/-shm files."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_a_fresh_demo_store(name, demo_dir, monkeypatch):
    before = _files(demo_dir)
    nb = _execute(name, demo_dir, monkeypatch)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    for o in outputs:  # no chart reached for a CDN (the default Altair renderer would)
        html = o.get("data", {}).get("text/html", "")
        assert "<script" not in html and not re.search(r"https?://", html), name
    if name in APPS:  # an app builds its page out of widgets
        assert any(WIDGET in o.get("data", {}) for o in outputs), name
    if name == "audit_verification.ipynb":  # one zip, outside the data dir
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        found = re.findall(r"^Evidence pack: (.+\.zip)$", text, re.M)
        assert len(found) == 1, text[-2000:]
        pack = Path(found[0])
        assert demo_dir.resolve() not in pack.resolve().parents
        expected = {"checkpoints.jsonl", "checkpoint_pubkey.pem", "verify.json", "report.html"}
        with zipfile.ZipFile(pack) as zf:
            assert expected | {"manifest.json"} == set(zf.namelist())
        shutil.rmtree(pack.parent)
    if name in ANALYST:  # an analyst notebook only reads the data dir
        assert _files(demo_dir) == before, name


@pytest.mark.parametrize("name", APPS)
def test_app_notebooks_are_one_import_and_one_call(name):
    nb = _read(name)
    cells = _code(nb)
    assert 1 <= len(cells) <= 2, f"{name}: {len(cells)} code cells; an app keeps its code in govlib"
    statements = [s for src in cells for s in ast.parse(src).body]
    assert len(statements) == 2, f"{name}: expected `import govlib...` and one call"
    imp, call = statements
    assert isinstance(imp, ast.Import) and [a.name.split(".")[0] for a in imp.names] == ["govlib"]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert [m for src in cells for m in _imported(src)] == ["govlib"]


@pytest.mark.parametrize("name", ANALYST)
def test_analyst_notebooks_import_only_govlib_the_declared_stack_and_stdlib(name):
    nb = _read(name)
    imported = {m for src in _code(nb) for m in _imported(src)}
    allowed = DECLARED_STACK | set(sys.stdlib_module_names)
    assert imported <= allowed, f"{name} imports {sorted(imported - allowed)}"
    assert "govlib" in imported


def test_the_declared_stack_is_declared():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in deps}
    assert DECLARED_STACK - {"govlib"} <= names


@pytest.mark.parametrize("name", ANALYST)
def test_analyst_notebooks_are_narrated_and_stored_without_outputs(name):
    nb = _read(name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    source = "\n".join(_code(nb))
    if "altair" in source:  # offline charts only: never the CDN-backed default renderer
        assert "alt.JupyterChart.enable_offline()" in source
        assert "renderers.enable" not in source
    assert "checked_data_dir" in source  # the data dir comes from GOVLIB_DATA_DIR / the checkout
