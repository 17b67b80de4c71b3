"""Shared fixtures. The demo store is built once per session and copied for each test that asks.

- ``demo_template`` (session): a ``govlib demo`` data dir built once into a temp dir: a 10-day
  seeded history ending at :data:`DEMO_AS_OF` (seed :data:`DEMO_SEED`), then the live clean and
  fraud runs, the checkpoint, the lake export. Treat it as read-only.
- ``demo_dir`` (function): a fresh copy of that data dir for one test (free to write to).
- ``claimsflow_template`` (session): a data dir with ClaimsFlow set up and one live clean claim
  run (checkpoint signed), for the reliability modules that add their own evidence on a copy.
- ``no_service_wait`` (function) and ``without_service_wait`` (session; the context manager,
  for module-scoped fixtures): live ``run_scenario`` claims skip the simulated service time
  of the remote systems the demo tools stand in for (about 1.3 s of ``time.sleep`` per claim);
  for tests of governance behaviour, never for tests of latencies or of the demo store.
- ``history30`` (session): 30 days of seeded ClaimsFlow history only (no live runs), seed
  :data:`DEMO_SEED`, ending at :data:`DEMO_AS_OF`. Read-only; only ``slow`` tests use it.

Build a store once here when more than one test needs it; a test that writes takes a copy
(``shutil.copytree``), never the template itself.

Hypothesis profiles: ``ci`` (no deadline, derandomized) is loaded when ``CI=true``, else ``dev``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    _hypothesis_settings = None

if _hypothesis_settings is not None:
    _hypothesis_settings.register_profile("ci", deadline=None, derandomize=True)
    _hypothesis_settings.register_profile("dev", deadline=None)
    _hypothesis_settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

DEMO_AS_OF = "2026-11-20T10:00:00Z"
DEMO_SEED = 7
DEMO_HISTORY_DAYS = 10


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo data dir built once per session (10-day history, fixed as_of and seed); under
    pytest-xdist once for all workers (:func:`_built_once`)."""
    from govlib.demo.builder import build_demo

    def build(path: Path) -> None:
        build_demo(path, history_days=DEMO_HISTORY_DAYS, as_of=DEMO_AS_OF, seed=DEMO_SEED)

    return _built_once(tmp_path_factory, "demo-template", build)


def _built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``name/data`` built by ``build`` once per test run: under pytest-xdist the workers share
    one copy (in the run's common temp root, the first worker builds it under an ``flock``, the
    others wait and read it), so two cores do not both spend ~6 s on the same store."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        path = tmp_path_factory.mktemp(name) / "data"
        build(path)
        return path
    import fcntl

    root = tmp_path_factory.getbasetemp().parent / name
    root.mkdir(exist_ok=True)
    path, done = root / "data", root / "built"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # a worker that died mid-build
            build(path)
            done.touch()
    return path


@pytest.fixture()
def demo_dir(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the session's demo data dir."""
    target = tmp_path / "data"
    shutil.copytree(demo_template, target)
    return target


def _no_service_time(_tool: str) -> float:
    return 0.0


@contextlib.contextmanager
def live_runs_without_service_wait() -> Iterator[None]:
    """Inside: ``run_scenario`` runs its live claim without sleeping the simulated service time."""
    from govlib.demo.claimsflow import scenarios

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scenarios, "live_service_time", lambda: _no_service_time)
        yield


@pytest.fixture(scope="session")
def without_service_wait() -> Callable[[], contextlib.AbstractContextManager[None]]:
    """:func:`live_runs_without_service_wait`, for module-scoped fixtures that build a store."""
    return live_runs_without_service_wait


@pytest.fixture()
def no_service_wait() -> Iterator[None]:
    """Live ``run_scenario`` claims in this test do not wait their simulated service time."""
    with live_runs_without_service_wait():
        yield


@pytest.fixture(scope="session")
def claimsflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ClaimsFlow set up and one live clean claim run (no service wait), closed cleanly."""
    from govlib.demo.claimsflow import run_scenario
    from govlib.store.database import Store

    path = tmp_path_factory.mktemp("claimsflow-template") / "data"
    with live_runs_without_service_wait(), Store(path) as store:
        run_scenario(store, "clean")  # registers ClaimsFlow, runs it, signs a checkpoint
    return path


@pytest.fixture(scope="session")
def history30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 days of seeded history (no live runs), built once per session (read-only)."""
    from govlib.demo.claimsflow.history import generate_history
    from govlib.store.database import Store

    path = tmp_path_factory.mktemp("history30")
    with Store(path) as store:
        generate_history(store, days=30, as_of=DEMO_AS_OF, seed=DEMO_SEED)
    return path


# --- fixtures of other modules below ---------------------------------------------------------
