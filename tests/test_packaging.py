"""Install files agree: pyproject, environment.yml, binder/, Makefile, CI."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _python_pin(text: str) -> str:
    m = re.search(r"-\s*python\s*=\s*([\d.]+)", text)
    assert m, "environment file must pin python"
    return m.group(1)


def test_required_runtime_dependencies_are_declared():
    deps = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in _pyproject()["project"]["dependencies"]}
    required = {
        "jupyterlab",
        "voila",
        "ipykernel",
        "ipywidgets",
        "anywidget",
        "vl-convert-python",
        "pandas",
        "numpy",
        "altair",
        "duckdb",
        "pyarrow",
        "cryptography",
        "jsonschema",
        "click",
    }
    assert required <= deps, required - deps
    test = {
        re.split(r"[<>=!~\[ ]", d)[0].lower()
        for d in _pyproject()["project"]["optional-dependencies"]["test"]
    }
    assert {"pytest", "hypothesis", "playwright", "nbclient"} <= test


def test_python_versions_agree():
    requires = _pyproject()["project"]["requires-python"]
    assert requires == ">=3.11"
    env = _python_pin((ROOT / "environment.yml").read_text())
    binder = _python_pin((ROOT / "binder/environment.yml").read_text())
    assert env == binder
    assert tuple(int(x) for x in env.split(".")) >= (3, 11)


def test_conda_env_installs_the_project_and_binder_installs_it_in_postbuild():
    assert re.search(r"-\s*-e\s+\.", (ROOT / "environment.yml").read_text())
    post = ROOT / "binder/postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    text = post.read_text()
    assert "pip install" in text and "-e ." in text and "govlib demo" in text


def test_console_script_and_package_data():
    proj = _pyproject()
    assert proj["project"]["scripts"]["govlib"] == "govlib.cli:main"
    assert (ROOT / "govlib/py.typed").exists()
    assert "data/*" in proj["tool"]["setuptools"]["package-data"]["govlib"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:20])
    assert "make demo" in first_screen and "make test" in first_screen
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci and "CI=true" in ci


def test_makefile_targets():
    mk = (ROOT / "Makefile").read_text()
    for target in ("demo:", "test:", "lint:", "bench:"):
        assert re.search(rf"^{target}", mk, re.M), target
    assert "apt-get install -y" in mk and "chromium" in mk
    assert "govlib demo" in mk and "govlib serve" in mk


def test_data_dir_is_ignored_but_for_its_readme():
    tracked = subprocess.run(
        ["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert set(tracked) <= {"data/README.md", "data/.gitkeep"}


def test_repo2docker_accepts_the_repo_if_available():
    import sys

    local = Path(sys.executable).parent / "jupyter-repo2docker"
    exe = str(local) if local.exists() else shutil.which("jupyter-repo2docker")
    assert exe, "jupyter-repo2docker is a declared test dependency (pip install -e '.[test]')"
    out = subprocess.run(
        [exe, "--no-build", "--debug", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "postBuild" in out.stdout + out.stderr


def test_binder_links_in_the_readme_open_notebooks_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/[^)\s\"']+", readme)
    for link in links:
        m = re.search(r"urlpath=(?:voila/render|lab/tree)/([^&)#\s]+\.ipynb)", link)
        assert m, f"{link}: expected urlpath=voila/render/... or lab/tree/... of a notebook"
        assert (ROOT / m.group(1)).is_file(), f"{link}: {m.group(1)} is not in the repo"
    post = (ROOT / "binder/postBuild").read_text()
    assert "govlib demo" in post  # the links open on a store, not an empty page
