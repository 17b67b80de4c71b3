"""Seeded reference data of ClaimsFlow: the policy table and the prior-claims history.

The two CSV files ship in ``govlib/data/`` (``policies.csv``, ``claims_history.csv``). They were
generated once by this module (``python -m govlib.demo.claimsflow.refdata``) from a fixed seed and are
committed; the tools read them, they are never regenerated at run time. Two hand-written policies
back the live scenarios: ``POL-204711`` (the clean claim's car policy, no prior claims) and
``POL-318844`` (the fraud claim's policy, with prior claims, one of them denied as fraud).
"""

from __future__ import annotations

import csv
import io
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from govlib.errors import GovlibError

__all__ = [
    "DATA_DIR",
    "POLICIES_CSV",
    "HISTORY_CSV",
    "POLICY_COLUMNS",
    "HISTORY_COLUMNS",
    "ReferenceData",
    "ReferenceDataError",
    "generate_reference_data",
    "reference_data",
    "write_reference_data",
]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
POLICIES_CSV = DATA_DIR / "policies.csv"
HISTORY_CSV = DATA_DIR / "claims_history.csv"
POLICY_COLUMNS = (
    "policy_id",
    "holder",
    "product",
    "status",
    "start_date",
    "coverage_limit",
    "deductible",
    "currency",
    "region",
)
HISTORY_COLUMNS = ("claim_id", "policy_id", "incident_date", "amount", "outcome")
#: Seed the committed CSV files were generated from.
REFDATA_SEED = 20261112
_N_AUTO, _N_PROPERTY = 420, 240
_FIRST = (
    "Maya Ana Liam Noah Emma Olivia Ava Lucas Mia Ethan Zoe Omar Priya Kenji Sofia Mateo Leila "
    "Daniel Grace Ivan Hana Tomas Nadia Samuel Chloe Aisha Jonas Elena Victor Ruth"
).split()
_LAST = (
    "Chen Ortiz Okafor Schmidt Rossi Novak Haddad Kim Silva Larsen Dubois Mensah Patel Tanaka "
    "Garcia Murphy Cohen Ivanova Nguyen Fischer Santos Ali Moreau Jensen Costa Weber Kowalski Brown"
).split()
_REGIONS = ("north", "south", "east", "west", "central")
#: Scenario policies, written verbatim after the generated ones.
SCENARIO_POLICIES: tuple[dict[str, Any], ...] = (
    {
        "policy_id": "POL-204711",
        "holder": "Maya Chen",
        "product": "auto",
        "status": "active",
        "start_date": "2022-03-01",
        "coverage_limit": 25000,
        "deductible": 500,
        "currency": "USD",
        "region": "west",
    },
    {
        "policy_id": "POL-318844",
        "holder": "Victor Novak",
        "product": "auto",
        "status": "active",
        "start_date": "2024-01-15",
        "coverage_limit": 20000,
        "deductible": 1000,
        "currency": "USD",
        "region": "east",
    },
)
SCENARIO_HISTORY: tuple[dict[str, Any], ...] = (
    {
        "claim_id": "HIST-900001",
        "policy_id": "POL-318844",
        "incident_date": "2024-06-02",
        "amount": 6200,
        "outcome": "paid",
    },
    {
        "claim_id": "HIST-900002",
        "policy_id": "POL-318844",
        "incident_date": "2025-02-19",
        "amount": 14800,
        "outcome": "denied_fraud",
    },
)


class ReferenceDataError(GovlibError):
    """A reference CSV file is missing or malformed; the message names the file and the row."""


@dataclass(frozen=True)
class ReferenceData:
    """Policies by id and prior claims by policy id, as read from the shipped CSV files.

    Example:
        >>> ref = reference_data()
        >>> ref.policies["POL-204711"]["holder"]
        'Maya Chen'
    """

    policies: Mapping[str, Mapping[str, Any]]
    history: Mapping[str, tuple[Mapping[str, Any], ...]]
    _pools: dict[tuple[str | None, str], list[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def policy_ids(self, product: str | None = None, status: str = "active") -> list[str]:
        """Policy ids (sorted) of one product and status; scenario policies excluded.

        Example:
            >>> reference_data().policy_ids("auto")[0]
            'POL-100001'
        """
        key = (product, status)
        if key not in self._pools:
            scenario = {p["policy_id"] for p in SCENARIO_POLICIES}
            self._pools[key] = sorted(
                pid
                for pid, p in self.policies.items()
                if pid not in scenario
                and (product is None or p["product"] == product)
                and p["status"] == status
            )
        return list(self._pools[key])


def generate_reference_data(
    seed: int = REFDATA_SEED,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Policies and prior claims, generated from ``seed`` (pure).

    Example:
        >>> policies, history = generate_reference_data()
        >>> policies[0]["policy_id"], len(policies) > 600
        ('POL-100001', True)
    """
    rng = random.Random(seed)
    policies: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    hist_no = 500001
    for i in range(_N_AUTO + _N_PROPERTY):
        product = "auto" if i < _N_AUTO else "property"
        start = date(2017, 1, 1) + timedelta(days=rng.randrange(0, 8 * 365))
        if product == "auto":
            limit = rng.choice((15000, 20000, 25000, 30000, 50000))
            deductible = rng.choice((250, 500, 500, 1000))
        else:
            limit = rng.choice((100000, 150000, 250000, 400000))
            deductible = rng.choice((1000, 2500, 2500, 5000))
        pid = f"POL-{100001 + i}"
        policies.append(
            {
                "policy_id": pid,
                "holder": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "product": product,
                "status": "lapsed" if rng.random() < 0.04 else "active",
                "start_date": start.isoformat(),
                "coverage_limit": limit,
                "deductible": deductible,
                "currency": "USD",
                "region": rng.choice(_REGIONS),
            }
        )
        n_prior = rng.choices((0, 1, 2, 3, 4), weights=(62, 24, 9, 4, 1))[0]
        for _ in range(n_prior):
            when = start + timedelta(days=rng.randrange(30, 6 * 365))
            when = min(when, date(2026, 6, 30))
            amount = round(rng.lognormvariate(8.0 if product == "auto" else 9.0, 0.7), -1)
            outcome = rng.choices(
                ("paid", "denied", "withdrawn", "denied_fraud"), weights=(80, 10, 7, 3)
            )[0]
            history.append(
                {
                    "claim_id": f"HIST-{hist_no}",
                    "policy_id": pid,
                    "incident_date": when.isoformat(),
                    "amount": int(amount),
                    "outcome": outcome,
                }
            )
            hist_no += 1
    policies += [dict(p) for p in SCENARIO_POLICIES]
    history += [dict(h) for h in SCENARIO_HISTORY]
    history.sort(key=lambda h: (h["policy_id"], h["incident_date"], h["claim_id"]))
    return policies, history


def _csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_reference_data(out_dir: Path = DATA_DIR, seed: int = REFDATA_SEED) -> list[Path]:
    """Write ``policies.csv`` and ``claims_history.csv`` into ``out_dir`` (a development step).

    Example:
        >>> import tempfile
        >>> [p.name for p in write_reference_data(Path(tempfile.mkdtemp()))]
        ['policies.csv', 'claims_history.csv']
    """
    policies, history = generate_reference_data(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / POLICIES_CSV.name, out_dir / HISTORY_CSV.name]
    paths[0].write_text(_csv_text(policies, POLICY_COLUMNS))
    paths[1].write_text(_csv_text(history, HISTORY_COLUMNS))
    return paths


def _read(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot read reference data ({exc.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise ReferenceDataError(
            f"{path}: header is {reader.fieldnames}; expected columns {list(columns)}"
        )
    return list(reader)


@lru_cache(maxsize=4)
def reference_data(data_dir: Path = DATA_DIR) -> ReferenceData:
    """The shipped reference data, read once per process.

    Raises
    ------
    ReferenceDataError
        A file is missing or a row has a bad number.

    Example:
        >>> len(reference_data().history["POL-318844"])
        2
    """
    policies: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, Any]]] = {}
    policies_path, history_path = data_dir / POLICIES_CSV.name, data_dir / HISTORY_CSV.name
    for n, row in enumerate(_read(policies_path, POLICY_COLUMNS), start=2):
        try:
            p: dict[str, Any] = dict(row)
            p["coverage_limit"] = float(row["coverage_limit"])
            p["deductible"] = float(row["deductible"])
        except ValueError:
            raise ReferenceDataError(
                f"{policies_path} line {n}: coverage_limit/deductible "
                f"{row['coverage_limit']!r}/{row['deductible']!r}; expected numbers"
            ) from None
        policies[row["policy_id"]] = p
    for n, row in enumerate(_read(history_path, HISTORY_COLUMNS), start=2):
        try:
            h: dict[str, Any] = dict(row, amount=float(row["amount"]))
        except ValueError:
            raise ReferenceDataError(
                f"{history_path} line {n}: amount {row['amount']!r}; expected a number"
            ) from None
        history.setdefault(row["policy_id"], []).append(h)
    return ReferenceData(policies=policies, history={k: tuple(v) for k, v in history.items()})


if __name__ == "__main__":  # pragma: no cover - development step
    for written in write_reference_data(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR):
        print(f"wrote {written}")
