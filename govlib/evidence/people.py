"""Personal data under the chain: people are written as keyed pseudonyms, names kept apart.

A person's name (a reviewer's ``verdict_by``, who triggered or reset the kill-switch) is written
into chained WORM bodies *and* into the governed row the entry binds as a pseudonym,
``person:`` followed by 20 hex characters of HMAC-SHA256(pseudonym key, name). The pseudonym key
is a key of its own (``DIR/keys/pseudonym_key``, mode 0600, created on first use). The name behind
each pseudonym lives only in ``people``, a table outside the chain: ``govlib purge --person NAME``
deletes its row, and the chain and every binding still verify because neither ever held the name.
Pages then show ``erased person``.

Entries written before this version hold names in clear and stay as they were (rewriting them
would break the chain); :func:`person_name` passes such a value through unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from govlib.evidence import worm
from govlib.evidence.keys import keyring_for
from govlib.store.database import Store

__all__ = [
    "PSEUDONYM_PREFIX",
    "ERASED",
    "pseudonym_of",
    "pseudonymise",
    "person_name",
    "people_names",
    "PersonPurge",
    "purge_person",
]

PSEUDONYM_PREFIX = "person:"
ERASED = "erased person"


def pseudonym_of(key: bytes, name: str) -> str:
    """The pseudonym of ``name`` under ``key`` (pure: values in, value out).

    Example:
        >>> p = pseudonym_of(b"k" * 32, "Ana")
        >>> p.startswith("person:"), len(p), p == pseudonym_of(b"k" * 32, " Ana ")
        (True, 27, True)
    """
    mac = hmac.new(key, name.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + mac[:20]


def pseudonymise(store: Store, name: str) -> str:
    """The pseudonym of ``name``, recording the name behind it in ``people`` (joins the caller's
    transaction).

    Example:
        >>> s = Store(memory=True)
        >>> p = pseudonymise(s, "Ana")
        >>> p.startswith("person:"), person_name(s, p)
        (True, 'Ana')
    """
    pseudonym = pseudonym_of(keyring_for(store).pseudonym_key(), name)
    store.execute(
        "INSERT OR IGNORE INTO people(pseudonym, name) VALUES (?, ?)",
        (pseudonym, name.strip()),
    )
    return pseudonym


def people_names(store: Store, values: Iterable[str | None]) -> dict[str, str]:
    """Display name of each pseudonym among ``values`` (``erased person`` when erased).

    Example:
        >>> s = Store(memory=True)
        >>> p = pseudonymise(s, "Ana")
        >>> people_names(s, [p, "Bo", None]) == {p: "Ana"}
        True
    """
    wanted = sorted({v for v in values if isinstance(v, str) and v.startswith(PSEUDONYM_PREFIX)})
    if not wanted:
        return {}
    rows = store.query(
        "SELECT pseudonym, name FROM people WHERE pseudonym IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    )
    found = {row["pseudonym"]: row["name"] for row in rows}
    return {p: found.get(p, ERASED) for p in wanted}


def person_name(store: Store, value: str | None) -> str | None:
    """What a page shows for a stored person value: the name, ``erased person``, or the value
    itself (a name written in clear before pseudonyms, or not a person at all).

    Example:
        >>> person_name(Store(memory=True), "person:00000000000000000000")
        'erased person'
    """
    if value is None or not value.startswith(PSEUDONYM_PREFIX):
        return value
    return people_names(store, [value])[value]


@dataclass(frozen=True)
class PersonPurge:
    """What ``govlib purge --person`` did."""

    pseudonym: str
    erased: int
    worm_seq: int | None

    def describe(self) -> str:
        """One line for the terminal.

        Example:
            >>> PersonPurge("person:ab", 1, 7).describe()
            'Erased the name behind person:ab (1 row); WORM entry 7 records the erasure.'
        """
        if not self.erased:
            return f"No name recorded behind {self.pseudonym}; nothing erased."
        return (
            f"Erased the name behind {self.pseudonym} ({self.erased} row); "
            f"WORM entry {self.worm_seq} records the erasure."
        )


def purge_person(store: Store, name: str) -> PersonPurge:
    """Erase ``name`` from ``people``; the chain keeps only its pseudonym.

    A ``person_erased`` WORM entry (holding the pseudonym, never the name) records the erasure.

    Example:
        >>> s = Store(memory=True)
        >>> p = pseudonymise(s, "Ana")
        >>> purge_person(s, "Ana").erased, person_name(s, p)
        (1, 'erased person')
    """
    pseudonym = pseudonym_of(keyring_for(store).pseudonym_key(), name)
    # zero the deleted row's bytes in the page instead of leaving them in free space
    store.execute("PRAGMA secure_delete = ON")
    with store.transaction():
        erased = store.execute(
            "DELETE FROM people WHERE pseudonym = ? OR name = ?", (pseudonym, name.strip())
        ).rowcount
        seq = None
        if erased:
            entry = worm.append(
                store,
                "person_erased",
                outcome="erased",
                detail={"pseudonym": pseudonym, "rows": erased},
            )
            seq = entry.seq
    if erased and store.path is not None:  # best effort: drop the WAL frames that held the name
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return PersonPurge(pseudonym, erased, seq)
