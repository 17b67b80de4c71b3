"""The layering of ``govlib/``, checked on the source (``ast``): every violation is listed by line.

Layers, lowest first (a layer imports only itself and what it is allowed below it)::

    core <- store <- evidence <- {governance, costs} <- capture <- analysis <- present
         <- {report, apps} <- {cli, demo}

``cli`` may import ``demo``; ``demo`` may import anything but ``cli``, ``apps`` and ``report``.
Also: no import of another module's ``_private`` name, no function-level ``govlib`` import in the
lower layers, no SQL text under ``govlib/apps/`` and no ``# fmt: skip`` anywhere in ``govlib/``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "govlib"

#: Top-level modules of ``govlib/`` that form the core layer.
CORE_MODULES = {"errors", "settings", "clock", "context", "bounds"}

#: What each layer may import besides itself (the intended direction, as data).
_BASE = {"core", "store", "evidence"}
_CAPTURED = _BASE | {"governance", "costs", "capture"}
_PRESENTED = _CAPTURED | {"analysis", "present"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "evidence": {"core", "store"},
    "governance": _BASE,
    "costs": _BASE,
    "capture": _BASE | {"governance", "costs"},
    "analysis": _CAPTURED,
    "present": _CAPTURED | {"analysis"},
    # alerts read analysis signals (drift badges, pills, sampling, spend): analysis level or above
    "alerts": _CAPTURED | {"analysis"},
    "report": _PRESENTED,
    "apps": _PRESENTED,
    "demo": _PRESENTED,
    "cli": _PRESENTED | {"report", "apps", "demo", "alerts"},
}
LAYERS = set(ALLOWED)

#: Layers where a ``govlib`` import must sit at module level (a function-level import there hides
#: a cycle or a wrong direction). cli, demo, apps, report and present import lazily on purpose:
#: a verb, a notebook or a chart must not pay for every layer at start-up.
NO_FUNCTION_LEVEL = ("core", "store", "evidence", "governance", "costs", "capture", "analysis")

#: SQL statements (upper-case keywords, as govlib writes them) in string literals.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*?\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b"
)
FMT_SKIP = re.compile(r"#\s*fmt:\s*(skip|off)\b")


@dataclass(frozen=True)
class Module:
    path: Path
    name: str  # dotted, e.g. govlib.evidence.verify
    layer: str | None  # None for govlib/__init__.py (the lazy facade)
    tree: ast.Module

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(ROOT))


def _layer_of(parts: tuple[str, ...]) -> str | None:
    """The layer of a dotted module name split into parts (``('govlib', 'store', ...)``)."""
    if len(parts) == 1:
        return "core"  # `import govlib`: the lazy facade only
    head = parts[1]
    if head in LAYERS:
        return head
    if head in CORE_MODULES or head == "__init__":
        return "core"
    if head == "__main__":
        return "cli"
    return None


def _modules() -> list[Module]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        parts = ("govlib", *path.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        layer = None if parts == ("govlib",) else _layer_of(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        out.append(Module(path, ".".join(parts), layer, tree))
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file()


def _is_module(name: str) -> bool:
    return _is_package(name) or (ROOT / (name.replace(".", "/") + ".py")).is_file()


def _absolute(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.name.split(".")
    if not _is_package(mod.name):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@dataclass(frozen=True)
class Imported:
    line: int
    target: str  # dotted module imported (a name's own module for `from x import name`)
    name: str | None  # the name taken from it (None for `import x`)
    #: (local name, module) when the import binds a module to a local name
    bound: tuple[str, str] | None
    in_function: bool
    text: str


def _imports(mod: Module) -> Iterator[Imported]:
    """Every ``govlib`` import of a module, with whether it sits inside a function."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[Imported]:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "govlib":
                        bound = (alias.asname, alias.name) if alias.asname else ("govlib", "govlib")
                        yield Imported(
                            child.lineno, alias.name, None, bound, in_function, ast.unparse(child)
                        )
            elif isinstance(child, ast.ImportFrom):
                source = _absolute(mod, child)
                if source.split(".")[0] != "govlib":
                    continue
                for alias in child.names:
                    full = f"{source}.{alias.name}"
                    is_module = _is_module(full)
                    yield Imported(
                        child.lineno,
                        full if is_module else source,
                        alias.name,
                        (alias.asname or alias.name, full) if is_module else None,
                        in_function,
                        ast.unparse(child),
                    )
            yield from visit(child, nested)

    yield from visit(mod.tree, False)


def _where(mod: Module, imp: Imported) -> str:
    return f"{mod.rel}:{imp.line}: {imp.text}"


def _report(title: str, lines: list[str]) -> str:
    return f"{len(lines)} {title}:\n  " + "\n  ".join(lines)


# --- the direction of imports ---------------------------------------------------------------------
def test_the_layer_table_covers_every_subpackage() -> None:
    subpackages = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    core = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    assert subpackages == LAYERS - {"core"}, "a new subpackage needs its row in ALLOWED"
    assert core == CORE_MODULES, "a new top-level module is core only when listed in CORE_MODULES"
    for layer, allowed in ALLOWED.items():
        assert allowed <= LAYERS and layer not in allowed


def _layer_violations() -> list[str]:
    found = []
    for mod in MODULES:
        if mod.layer is None:
            continue
        for imp in _imports(mod):
            target = _layer_of(tuple(imp.target.split(".")))
            if target is None or target == mod.layer or target in ALLOWED[mod.layer]:
                continue
            found.append(f"{_where(mod, imp)}  ({mod.layer} -> {target})")
    return found


def test_every_import_goes_down_the_layers() -> None:
    found = _layer_violations()
    assert not found, _report("imports against the layer direction", found)


def test_the_check_sees_a_wrong_direction() -> None:
    tree = ast.parse("from govlib.report.contents import write_report\n")
    mod = Module(PKG / "store" / "fake.py", "govlib.store.fake", "store", tree)
    (imp,) = _imports(mod)
    assert _layer_of(tuple(imp.target.split("."))) == "report" not in ALLOWED["store"]


# --- private names --------------------------------------------------------------------------------
def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_violations() -> list[str]:
    found = []
    for mod in MODULES:
        bound: dict[str, str] = {}  # local name -> govlib module it stands for
        for imp in _imports(mod):
            if imp.target == mod.name:
                continue
            if imp.name is not None and imp.bound is None and _is_private(imp.name):
                found.append(f"{_where(mod, imp)}  (private name {imp.name})")
            if any(_is_private(part) for part in imp.target.split(".")):
                found.append(f"{_where(mod, imp)}  (private module {imp.target})")
            if imp.bound is not None:
                bound[imp.bound[0]] = imp.bound[1]
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and bound[node.value.id] != mod.name
                and _is_private(node.attr)
            ):
                found.append(
                    f"{mod.rel}:{node.lineno}: {ast.unparse(node)}  "
                    f"(private name of {bound[node.value.id]})"
                )
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = _private_violations()
    assert not found, _report("uses of another module's _private name", found)


def test_the_check_sees_a_private_name() -> None:
    source = (
        "from govlib.evidence.keys import _fsync_dir\n"
        "from govlib.evidence import worm as w\n"
        "import govlib.evidence.chain as chain\n"
        "w._secret(chain._other)\n"
    )
    fake = Module(PKG / "store" / "fake.py", "govlib.store.fake", "store", ast.parse(source))
    MODULES.append(fake)
    try:
        found = [line for line in _private_violations() if "fake.py" in line]
    finally:
        MODULES.remove(fake)
    assert len(found) == 3, found
    assert "_fsync_dir" in found[0] and "w._secret" in "".join(found)


# --- function-level imports -----------------------------------------------------------------------
def _function_level_violations() -> list[str]:
    return [
        _where(mod, imp)
        for mod in MODULES
        if mod.layer in NO_FUNCTION_LEVEL
        for imp in _imports(mod)
        if imp.in_function
    ]


def test_lower_layers_import_govlib_at_module_level_only() -> None:
    found = _function_level_violations()
    assert not found, _report(f"function-level govlib imports in {NO_FUNCTION_LEVEL}", found)


# --- no SQL in the apps, no formatter escapes -----------------------------------------------------
def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, joined
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            yield node.lineno, " x ".join(str(p) for p in parts)


def test_apps_hold_no_sql() -> None:
    found = [
        f"{mod.rel}:{line}: {m.group(0)[:60]!r}"
        for mod in MODULES
        if mod.layer == "apps"
        for line, text in _strings(mod.tree)
        for m in [SQL.search(text)]
        if m
    ]
    assert not found, _report("SQL statements under govlib/apps/ (move them to analysis/)", found)


def test_the_sql_pattern() -> None:
    assert SQL.search("SELECT a, b\n FROM audit_log") and SQL.search("INSERT OR IGNORE INTO t")
    assert SQL.search("UPDATE audit_log SET verdict = ?") and SQL.search("DELETE FROM t")
    assert not SQL.search("Select a tool from the list; update the chart")


def _fmt_skips() -> list[str]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and FMT_SKIP.search(tok.string):
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.line.strip()}")
    return found


def test_no_formatter_escapes_in_govlib() -> None:
    found = _fmt_skips()
    assert not found, _report("`# fmt: skip` / `# fmt: off` in govlib/ (let ruff format)", found)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_has_modules(layer: str) -> None:
    assert any(m.layer == layer for m in MODULES)
