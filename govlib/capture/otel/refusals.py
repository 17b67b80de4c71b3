"""Ingestion errors on the record: what `govlib collect` refused and what could not be read.

Each row of ``ingest_errors`` says when, which source, how many requests and spans, and a
bounded reason (a status and an exception type, never span content). Refusals are counted in
memory by (source, reason) and written at most once a second, so a flood of bad requests makes
a few rows, not one per request; `govlib watch` raises one ``ingest`` alert per new batch.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from govlib.clock import utc_now_iso
from govlib.store.database import Store

__all__ = ["MAX_REASON_CHARS", "RefusalTally", "record_ingest_error"]

#: Longest reason kept (longer ones are cut: the record stays small and content-free).
MAX_REASON_CHARS = 200


def record_ingest_error(
    store: Store, source: str, reason: str, *, requests: int, spans: int
) -> int:
    """Append one ``ingest_errors`` row; its id.

    Example:
        >>> record_ingest_error(Store(memory=True), "collect /v1/traces", "HTTP 400 malformed body",
        ...                     requests=3, spans=0)
        1
    """
    row = {
        "at": utc_now_iso(),
        "source": source[:MAX_REASON_CHARS],
        "requests": int(requests),
        "spans": int(spans),
        "reason": reason[:MAX_REASON_CHARS],
    }
    with store.transaction():
        return store.insert("ingest_errors", row)


class RefusalTally:
    """Refusals counted by (source, reason) from any thread; :meth:`write` records them."""

    def __init__(self, every_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._spans: Counter[tuple[str, str]] = Counter()
        self._every_s = every_s
        self._last = 0.0

    def note(self, source: str, reason: str, *, spans: int = 0, requests: int = 1) -> None:
        """Count one refused request (or a failed write of ``spans`` spans)."""
        key = (source[:MAX_REASON_CHARS], reason[:MAX_REASON_CHARS])
        with self._lock:
            self._requests[key] += requests
            self._spans[key] += spans

    def write(self, store: Store, *, now: bool = False) -> None:
        """Write what was counted (at most once per ``every_s`` unless ``now``); a failed write
        keeps the counts for the next try."""
        if not now and time.monotonic() - self._last < self._every_s:
            return
        with self._lock:
            pending = [(k, self._requests[k], self._spans[k]) for k in self._requests]
            self._requests.clear()
            self._spans.clear()
        self._last = time.monotonic()
        for index, ((source, reason), requests, spans) in enumerate(pending):
            try:
                record_ingest_error(store, source, reason, requests=requests, spans=spans)
            except Exception:
                for (s, r), n, m in pending[index:]:
                    self.note(s, r, spans=m, requests=n)
                raise
