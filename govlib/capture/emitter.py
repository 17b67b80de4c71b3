"""The tool-call emitter: one content-free ``audit_log`` row per call of a wrapped tool.

Wrap any callable (``emitter.wrap(fn)``, ``@tool(...)``, ``audited(fn)``); each call records the
tenant, tool, actor, workflow run (``composition_id``), success, argument-schema validity, latency,
the djb2 ``output_hash`` of the result and the error class and message. Arguments and results are
never stored. The tool's result or exception is exactly what the caller gets.

Live use (default) queues rows for a background sink (:mod:`govlib.capture.sink`): the call pays
only for hashing and an append to a bounded queue; sink failures and overflow are counted, never
raised. ``synchronous=True`` writes each row in the caller's thread (no queue, no drops, write
errors propagate) so seeded histories with a :class:`~govlib.clock.SimClock` are reproducible.

Row fields:

* ``tenant_id``: the call's ``tenant=`` keyword, else the emitter's ``tenant``, else
  ``Settings.default_tenant``. ``composition_id``: the call's ``composition_id=`` keyword, else
  the surrounding :func:`govlib.context.workflow`. Both keywords are removed before the tool is
  called unless the tool declares a parameter of that name (then it gets it too).
* ``success``: 1 when the tool returned normally and, if it returned a dict with ``ok``, that
  ``ok`` is truthy. ``schema_valid``: the arguments (bound to parameter names) checked against the
  tool's JSON Schema by a validator compiled once; 1 when there is no schema. An invalid call still
  runs. ``error``: ``"ClassName: message"`` (cut to 500 characters ending ``…[truncated, N
  characters]``, :func:`govlib.bounds.truncated`; tools must not put payload in exception
  messages). ``created_at``: the clock's time when the call started.
* Bounds (:mod:`govlib.bounds`): the tool name (at wrap time), the tenant, actor and
  composition id are refused beyond 256 characters before the tool runs; a non-system clock's
  time outside 2000-01-01 .. now + ``max_clock_skew_s`` is refused before the tool runs too.
* ``latency_ms``: integer milliseconds of the tool alone (the clock's ``latency_ms`` decides; a
  :class:`~govlib.clock.SimClock` substitutes its model's sample).

With a ``governor`` its ``guard_tool`` runs first; a refusal propagates, the tool does not run and
no row is written. In synchronous mode a failed write raises in the caller (when the tool itself
raised too, the write error is raised with the tool's exception as its ``__context__``).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from govlib import bounds
from govlib.capture.arguments import Parameters, ToolSchemaError, compile_schema
from govlib.capture.counters import read_emitter_stats
from govlib.capture.fingerprint import output_hash
from govlib.capture.rows import DirectSink
from govlib.capture.sink import EmitterError, Sink
from govlib.clock import Clock, SystemClock
from govlib.context import current_composition_id, current_node
from govlib.settings import Settings, load_settings
from govlib.store.database import Store
from govlib.store.datadir import checked_data_dir

__all__ = [
    "Emitter",
    "EmitterError",
    "ToolSchemaError",
    "tool",
    "audited",
    "default_emitter",
    "set_default_emitter",
    "read_emitter_stats",
]

F = TypeVar("F", bound=Callable[..., Any])
_TENANT_MAX = bounds.TEXT_LIMITS["tenant"]
_RUN_MAX = bounds.TEXT_LIMITS["run_id"]
_perf = time.perf_counter_ns
_wall = time.time_ns


def _tool_name(fn: Callable[..., Any], name: str | None) -> str:
    if not callable(fn):
        raise EmitterError(f"fn: {fn!r} is not callable; expected the tool function")
    chosen = name if name is not None else getattr(fn, "__name__", None) or type(fn).__name__
    if not isinstance(chosen, str) or not chosen.strip():
        raise EmitterError(f"name: {bounds.shown(chosen)}; expected a non-empty tool name")
    bounds.checked_text("name", chosen, kind="tool_name", optional=False)
    return chosen


class Emitter:
    """Records one ``audit_log`` row per call of the tools it wraps.

    Parameters
    ----------
    store_or_dir : Store, str or Path
        A :class:`~govlib.store.database.Store`, a data dir or a ``.sqlite`` file (created when missing).
    tenant : str, optional
        Tenant of calls that name none (default ``Settings.default_tenant``).
    actor : str, optional
        The caller's label, recorded on every row (e.g. ``"claims-agent"``).
    synchronous : bool
        Write each row in the caller's thread (no queue, no drops; errors propagate).
    clock : Clock, optional
        :class:`~govlib.clock.SystemClock` (default) or a :class:`~govlib.clock.SimClock`.
    governor : optional
        Anything with ``guard_tool(name, run_id=, node=, actor=)`` (``govlib.governance.governor.Governor``);
        it runs before every call and a :class:`~govlib.errors.GovernanceRefused` it raises stops
        the call: the tool does not run and no audit row is written.
    settings : Settings, optional
        Default: ``load_settings(data_dir)``.

    Example:
        >>> from govlib.store.database import Store
        >>> store = Store(memory=True)
        >>> em = Emitter(store, synchronous=True, actor="demo")
        >>> lookup = em.wrap(lambda claim_id: {"ok": True, "id": claim_id}, name="lookup")
        >>> lookup("C-1")["ok"]
        True
        >>> store.query_one("SELECT tool_name FROM audit_log")
        'lookup'
    """

    def __init__(
        self,
        store_or_dir: Store | str | Path,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        synchronous: bool = False,
        clock: Clock | None = None,
        governor: Any = None,
        settings: Settings | None = None,
    ) -> None:
        owned = not isinstance(store_or_dir, Store)
        store = Store(store_or_dir) if owned else store_or_dir  # creates schema + file
        self.data_dir: Path | None = store.data_dir
        self.settings = settings or (
            load_settings(self.data_dir) if self.data_dir is not None else Settings()
        )
        self.tenant = bounds.checked_text("tenant", tenant) or self.settings.default_tenant
        self.actor = bounds.checked_text("actor", actor)
        self._skew_s = float(self.settings.max_clock_skew_s)
        self.synchronous = bool(synchronous)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.governor = governor
        self._system_clock = type(self.clock) is SystemClock
        self._owned_store = owned
        self._sink: Sink | DirectSink
        if self.synchronous:
            self._sink = DirectSink(store, self.clock)
        else:
            shared = store if store.path is None else None
            self._sink = Sink(
                path=store.path,
                shared=shared,
                data_dir=self.data_dir,
                queue_size=self.settings.emitter_queue_size,
                batch_size=self.settings.emitter_batch_size,
                interval_s=self.settings.emitter_flush_interval_s,
                keyring=None if owned else store.keyring,
            )
            if owned:
                store.close()  # the sink thread opens its own connection

    # --- wrapping ---------------------------------------------------------------------------------
    def wrap(self, fn: F, *, name: str | None = None, schema: Any = None) -> F:
        """Return ``fn`` wrapped so each call writes one audit row.

        Parameters
        ----------
        fn : callable
            The tool.
        name : str, optional
            The ``tool_name`` (default ``fn.__name__``).
        schema : dict, str or bool, optional
            JSON Schema of the arguments (bound to parameter names); compiled once, here.

        Example:
            >>> em = Emitter(Store(memory=True), synchronous=True)
            >>> double = em.wrap(lambda x: 2 * x, name="double", schema={"type": "object"})
            >>> double(21)
            42
        """
        tool_name = _tool_name(fn, name)
        return self._wrap(fn, tool_name, compile_schema(schema, tool_name))

    def _wrap(self, fn: F, tool_name: str, is_valid: Callable[[Any], bool] | None) -> F:
        params = Parameters.of(fn)
        keep = ("tenant" in params.named, "composition_id" in params.named)
        put, governor, actor = self._sink.put, self.governor, self.actor
        clock, system, emitter, skew_s = self.clock, self._system_clock, self, self._skew_s

        def started_at() -> Any:
            return bounds.checked_time("created_at", clock.now(), skew_s=skew_s)

        def latency_ms(t0: int) -> int:
            ms = (_perf() - t0) / 1e6
            return int((ms if system else clock.latency_ms(tool_name, ms)) + 0.5)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            tenant, comp = _call_keywords(kwargs, *keep)
            if governor is not None:
                governor.guard_tool(tool_name, run_id=comp, node=current_node(), actor=actor)
            valid = _schema_valid(is_valid, params, args, kwargs)
            started = _wall() if system else started_at()
            t0 = _perf()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                ms, text = latency_ms(t0), _error_text(exc)
                tenant = tenant or emitter.tenant
                put((tenant, tool_name, actor, comp, 0, valid, ms, None, text, started))
                raise
            ms = latency_ms(t0)
            ok, digest = _success(result), _digest(result)
            tenant = tenant or emitter.tenant
            put((tenant, tool_name, actor, comp, ok, valid, ms, digest, None, started))
            return result

        call.tool_name = tool_name  # type: ignore[attr-defined]
        call.emitter = self  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Synchronous mode: every call inside is written in one transaction with one digest.

        Seeded histories use it to write thousands of rows quickly. In background mode it does
        nothing (the sink batches anyway).

        Example:
            >>> em = Emitter(Store(memory=True), synchronous=True)
            >>> f = em.wrap(lambda: 1, name="one")
            >>> with em.batch():
            ...     _ = [f() for _ in range(3)]
            >>> em.stats["batches"]
            1
        """
        if isinstance(self._sink, DirectSink):
            with self._sink.batch():
                yield
        else:
            yield

    # --- lifecycle and counters -------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued row is written (or dropped and counted); True when done.

        Example:
            >>> Emitter(Store(memory=True)).flush()
            True
        """
        return True if isinstance(self._sink, DirectSink) else self._sink.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush, stop the sink thread and persist the stats (idempotent).

        In background mode a later call starts the sink again; in synchronous mode a store the
        emitter opened itself is closed (later calls then raise).

        Example:
            >>> Emitter(Store(memory=True)).close()
        """
        if isinstance(self._sink, Sink):
            self._sink.close(timeout)
        elif self._owned_store:
            self._sink.store.close()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: enqueued, written, dropped_overflow, sink_errors, batches, dropped_rows.

        Example:
            >>> sorted(Emitter(Store(memory=True)).stats)[:3]
            ['batches', 'dropped_overflow', 'dropped_rows']
        """
        return self._sink.snapshot()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "synchronous" if self.synchronous else "background"
        return f"Emitter({self.data_dir or 'memory'}, {mode})"


# --- one call's row fields -----------------------------------------------------------------------
def _call_keywords(
    kwargs: dict[str, Any], keep_tenant: bool, keep_comp: bool
) -> tuple[str | None, str | None]:
    """``(tenant, composition_id)`` of a call: its keywords (removed from ``kwargs`` unless the
    tool declares them), the composition id defaulting to the surrounding workflow's."""
    tenant = comp = None
    if kwargs:
        if "tenant" in kwargs:
            tenant = kwargs["tenant"] if keep_tenant else kwargs.pop("tenant")
        if "composition_id" in kwargs:
            comp = kwargs["composition_id"] if keep_comp else kwargs.pop("composition_id")
    if tenant is not None and (type(tenant) is not str or len(tenant) > _TENANT_MAX):
        bounds.checked_text("tenant", tenant)  # raises: not text, or too long
    if comp is None:
        comp = current_composition_id()
    if comp is not None and (type(comp) is not str or len(comp) > _RUN_MAX):
        bounds.checked_text("composition_id", comp, kind="run_id")
    return tenant, comp


def _schema_valid(
    is_valid: Callable[[Any], bool] | None, params: Parameters, args: tuple, kwargs: dict
) -> int:
    """``schema_valid``: 1 when there is no schema or the bound arguments satisfy it."""
    if is_valid is None:
        return 1
    try:
        return 1 if is_valid(params.instance(args, kwargs)) else 0
    except Exception:  # noqa: BLE001 - a validator crash means "not valid"
        return 0


def _success(result: Any) -> int:
    """``success`` of a call that returned: 0 only for a dict whose ``ok`` is falsy (or untestable)."""
    if isinstance(result, dict) and "ok" in result:
        try:
            return 1 if result["ok"] else 0
        except Exception:  # noqa: BLE001 - an "ok" that cannot be truth-tested
            return 0
    return 1


def _digest(result: Any) -> str | None:
    """``output_hash`` of the result; None when it cannot be hashed (the call still succeeds)."""
    try:
        return output_hash(result)
    except Exception:  # noqa: BLE001 - an unhashable result must not fail the call
        return None


def _error_text(exc: BaseException) -> str:
    """``error``: ``"ClassName: message"``, truncated to its bound with the marker."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - an exception whose str() fails is still recorded
        text = f"{type(exc).__name__}: (message could not be read)"
    return bounds.truncated("error", text) or "error"


# --- module-level helpers ------------------------------------------------------------------------
_default: Emitter | None = None
_default_lock = threading.Lock()


def default_emitter() -> Emitter:
    """The process's default emitter (background mode on the default data dir), made on first use.

    Example:
        >>> previous = set_default_emitter(Emitter(Store(memory=True)))
        >>> default_emitter().data_dir is None
        True
        >>> _ = set_default_emitter(previous)
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Emitter(checked_data_dir())
        return _default


def set_default_emitter(emitter: Emitter | None) -> Emitter | None:
    """Use ``emitter`` for tools wrapped without one; returns the previous default."""
    global _default
    with _default_lock:
        previous, _default = _default, emitter
    return previous


def audited(
    fn: F, *, name: str | None = None, schema: Any = None, emitter: Emitter | None = None
) -> F:
    """``fn`` wrapped by ``emitter`` (default: :func:`default_emitter`, resolved at first call).

    The schema is checked here, so a bad schema fails at wrap time, not at the first call.

    Example:
        >>> em = Emitter(Store(memory=True), synchronous=True)
        >>> audited(len, name="length", emitter=em)("abc")
        3
    """
    tool_name = _tool_name(fn, name)
    is_valid = compile_schema(schema, tool_name)
    if emitter is not None:
        return emitter._wrap(fn, tool_name, is_valid)
    wrapped: list[Callable[..., Any]] = []

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not wrapped:
            wrapped.append(default_emitter()._wrap(fn, tool_name, is_valid))
        return wrapped[0](*args, **kwargs)

    call.tool_name = tool_name  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


def tool(
    name: str | Callable[..., Any] | None = None,
    *,
    schema: Any = None,
    emitter: Emitter | None = None,
) -> Any:
    """Decorator form of :func:`audited`: ``@tool``, ``@tool("name")``, ``@tool(schema=...)``.

    Example:
        >>> em = Emitter(Store(memory=True), synchronous=True)
        >>> @tool("greet", emitter=em)
        ... def greet(who):
        ...     return {"ok": True, "text": f"hi {who}"}
        >>> greet("Ana")["text"]
        'hi Ana'
    """
    if callable(name):
        return audited(name, schema=schema, emitter=emitter)

    def decorate(fn: F) -> F:
        return audited(fn, name=name, schema=schema, emitter=emitter)

    return decorate
