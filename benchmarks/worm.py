"""WORM benchmark: append rate, verify rate for 100k entries, verify time vs a bare HMAC loop.

Run: ``.venv/bin/python benchmarks/worm.py [--entries 100000]``. Prints figures (asserts only that
verification passes).
The bare loop is HMAC-SHA256 (hex, as stored) over the same canonical bytes already in memory, the
floor any verifier has to pay; the target is chain verification within 2x of it. Two bare loops
are timed: the standard library's one-shot ``hmac.digest(key, body, "sha256")``, and the same MAC
with the key pads hashed once (:func:`govlib.evidence.chain.hmac_sha256`, what ``verify`` uses; about 2.5x
faster with OpenSSL 3). Ratios are printed against both: against the second, the ratio is the
verifier's whole overhead (reading rows out of SQLite, link/seq/key checks) over the MACs alone.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import statistics
import tempfile
import time
from binascii import hexlify
from pathlib import Path

from govlib.evidence import worm
from govlib.evidence.chain import chain_intact, first_chain_problem, hmac_sha256
from govlib.evidence.verify import CHAIN_BYTES_SQL, CHAIN_SQL, verify_store
from govlib.store.database import Store


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU time is what a loaded machine distorts least."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def append_rule_evaluation(store: Store, i: int) -> None:
    """The i-th benchmark entry: a rule evaluation like the ones ClaimsFlow writes."""
    detail = {"inputs": {"amount": 1000 + i % 5000, "policy": f"P-{i % 97:04d}"}, "message": "ok"}
    worm.append(
        store,
        "rule_evaluated",
        run_id=f"run-{i // 10}",
        node="triage",
        rule="max_amount",
        outcome="pass",
        detail=detail,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--durable-sample", type=int, default=2_000)
    parser.add_argument("--tx-size", type=int, default=1_000)
    args = parser.parse_args()
    n = args.entries

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "durable")
        t = time.perf_counter()
        for i in range(args.durable_sample):
            append_rule_evaluation(store, i)
        dt = time.perf_counter() - t
        print(
            f"append, one fsynced transaction per entry: {args.durable_sample / dt:,.0f} entries/s "
            f"({dt / args.durable_sample * 1e3:.2f} ms each, {args.durable_sample:,} entries)"
        )
        store.close()

        store = Store(Path(tmp) / "bulk")
        t = time.perf_counter()
        for start in range(0, n, args.tx_size):
            with store.transaction():
                for i in range(start, min(n, start + args.tx_size)):
                    append_rule_evaluation(store, i)
        dt = time.perf_counter() - t
        cps = store.count("worm_checkpoints")
        print(
            f"append, {n:,} entries in transactions of {args.tx_size:,}: {n / dt:,.0f} entries/s "
            f"({dt / n * 1e6:.1f} us each; {cps} periodic checkpoints signed)"
        )

        keys = store.keyring.hmac_keys
        key = store.keyring.current_key
        bodies = [r[0].encode() for r in store.query("SELECT body FROM worm_log ORDER BY seq")]
        size = statistics.mean(len(b) for b in bodies)
        digest, sha = hmac.digest, hashlib.sha256

        def bare() -> None:
            for b in bodies:
                digest(key, b, sha).hex()

        def stdlib_mac(k: bytes):
            return lambda body: digest(k, body, "sha256")

        def bare_pads() -> None:
            mac = hmac_sha256(key)
            for b in bodies:
                hexlify(mac(b))

        conn = store.conn

        def chain() -> None:
            cur = conn.cursor()
            cur.row_factory = None
            cur.execute(CHAIN_BYTES_SQL)
            intact, checked, _ = chain_intact(iter(lambda: cur.fetchmany(256), []), keys)
            assert intact and checked == n

        def chain_stdlib() -> None:  # the same pass with the stdlib MAC: like for like with bare
            cur = conn.cursor()
            cur.row_factory = None
            cur.execute(CHAIN_BYTES_SQL)
            chunks = iter(lambda: cur.fetchmany(256), [])
            intact, checked, _ = chain_intact(chunks, keys, mac_for=stdlib_mac)
            assert intact and checked == n

        def fetch() -> None:
            cur = conn.cursor()
            cur.row_factory = None
            cur.execute(CHAIN_BYTES_SQL)
            while cur.fetchmany(256):
                pass

        def exact() -> None:
            cur = conn.cursor()
            cur.row_factory = None
            problem, checked, _ = first_chain_problem(cur.execute(CHAIN_SQL), keys)
            assert problem is None and checked == n

        def full(integrity: bool) -> None:
            result = verify_store(store, integrity_check=integrity)
            assert result.ok, result.summary

        # Interleaved, best of each: background load hits both sides of a ratio alike.
        names = ("bare", "pads", "chain", "chain_stdlib", "fetch", "exact", "full", "qc")
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
        for _ in range(5):
            runs["bare"].append(timed(bare))
            runs["pads"].append(timed(bare_pads))
            runs["chain"].append(timed(chain))
            runs["chain_stdlib"].append(timed(chain_stdlib))
            runs["fetch"].append(timed(fetch))
        for _ in range(3):
            runs["exact"].append(timed(exact))
            runs["full"].append(timed(lambda: full(False)))
            runs["qc"].append(timed(lambda: full(True)))
            runs["bare"].append(timed(bare))
            runs["pads"].append(timed(bare_pads))
        wall = {k: min(w for w, _ in v) for k, v in runs.items()}
        cpu = {k: min(c for _, c in v) for k, v in runs.items()}

        def line(label: str, key: str) -> str:
            return (
                f"{label}: {wall[key] * 1e3:.0f} ms wall ({n / wall[key]:,.0f} entries/s), "
                f"{cpu[key] * 1e3:.0f} ms CPU; ratio to the stdlib bare loop "
                f"{cpu[key] / cpu['bare']:.2f}x CPU ({wall[key] / wall['bare']:.2f}x wall), "
                f"to the pads bare loop {cpu[key] / cpu['pads']:.2f}x CPU "
                f"({wall[key] / wall['pads']:.2f}x wall)"
            )

        print(
            f"bare HMAC-SHA256 loop over the canonical bytes ({size:.0f} B avg), stdlib "
            f"hmac.digest: {wall['bare'] * 1e3:.0f} ms wall, {cpu['bare'] * 1e3:.0f} ms CPU"
        )
        print(
            f"bare HMAC-SHA256 loop, pads hashed once (chain.hmac_sha256): "
            f"{wall['pads'] * 1e3:.0f} ms wall, {cpu['pads'] * 1e3:.0f} ms CPU"
        )
        print(line("chain pass (CHAIN_BYTES_SQL + chain_intact)", "chain"))
        print(line("  the same pass with the stdlib MAC (like for like)", "chain_stdlib"))
        print(line("  of which reading CHAIN_BYTES_SQL rows alone", "fetch"))
        print(line("exact pass, run only when the chain pass fails (CHAIN_SQL)", "exact"))
        print(line("verify_store, integrity_check=False", "full"))
        print(line("verify_store with PRAGMA quick_check (CLI default)", "qc"))
        store.close()


if __name__ == "__main__":
    main()
