"""Hypothesis strategies shared by the chain tests."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


def worm_entry(
    text: st.SearchStrategy[str], details: st.SearchStrategy[dict], key_ids: Sequence[str]
) -> st.SearchStrategy[dict]:
    """Keyword arguments of one ``entry_body`` (all but seq and prev_mac)."""
    maybe = st.one_of(st.none(), text)
    return st.fixed_dictionaries(
        {
            "ts": text,
            "action": st.text(min_size=1, max_size=12),
            "run_id": maybe,
            "node": maybe,
            "rule": maybe,
            "outcome": maybe,
            "detail": details,
            "key_id": st.sampled_from(list(key_ids)),
        }
    )
