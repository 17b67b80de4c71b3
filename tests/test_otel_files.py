"""Every common trace file format (issue 17): protobuf, gzip/zstd, pretty-printed, arrays.

The spans are the in-repo sample made with the real OpenTelemetry SDK (``tests/otel_sample.py``),
encoded with the SDK's own OTLP protobuf encoder; each format must give exactly the rows the
Collector-format JSON lines give, and what cannot be read must be named with exit status 1.
"""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from otel_sample import encode_lines, sample_spans

from govlib.capture.otel.ingest import ingest_paths
from govlib.cli.main import cli
from govlib.evidence.verify import verify_store
from govlib.store.database import Store
from govlib.store.schema import AUDIT_COLUMNS, LEDGER_COLUMNS


@pytest.fixture(scope="module")
def spans():
    return sample_spans()


def _rows(store: Store) -> dict[str, list[tuple]]:
    ledger = ", ".join(c for c in LEDGER_COLUMNS if c != "created_at")
    return {
        "audit": [tuple(r) for r in store.query(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log ORDER BY id")],  # noqa: E501
        "ledger": [tuple(r) for r in store.query(f"SELECT {ledger} FROM token_ledger ORDER BY id")],  # noqa: S608
        "runs": [tuple(r) for r in store.query("SELECT composition_id, workflow_id, status FROM workflow_runs ORDER BY 1")],  # noqa: E501
    }  # fmt: skip


@pytest.fixture(scope="module")
def expected(tmp_path_factory, spans):
    tmp = tmp_path_factory.mktemp("jsonl")
    path = tmp / "t.jsonl"
    path.write_text("\n".join(encode_lines(spans)) + "\n")
    store = Store(tmp / "data")
    summary = ingest_paths(store, [path])
    assert summary.new_total > 0 and not summary.problems
    return _rows(store)


def _requests(spans, batch=5):
    return [encode_spans(list(spans[i : i + batch])) for i in range(0, len(spans), batch)]


def _framed(spans) -> bytes:
    """The Collector file exporter's ``format: proto``: 4-byte big-endian length, message."""
    out = b""
    for request in _requests(spans):
        body = request.SerializeToString()
        out += len(body).to_bytes(4, "big") + body
    return out


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _pretty(spans) -> str:
    return "\n".join(json.dumps(json.loads(line), indent=2) for line in encode_lines(spans))


@pytest.mark.parametrize(
    "name, content",
    [
        ("t.pb", lambda s: _framed(s)),
        ("t.pb.zst", lambda s: zstandard.ZstdCompressor().compress(_framed(s))),
        ("t.binpb", lambda s: b"".join(
            _varint(len(b)) + b for b in (r.SerializeToString() for r in _requests(s)))),
        ("t.jsonl.gz", lambda s: gzip.compress(("\n".join(encode_lines(s)) + "\n").encode())),
        ("t.json", lambda s: _pretty(s).encode()),
        ("t.json.gz", lambda s: gzip.compress(_pretty(s).encode())),
        ("t.json", lambda s: json.dumps([json.loads(x) for x in encode_lines(s)]).encode()),
    ],
)  # fmt: skip
def test_each_format_gives_the_same_rows(tmp_path, spans, expected, name, content):
    path = tmp_path / name
    path.write_bytes(content(spans))
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [path])
    assert summary.problems == [] and summary.files == 1 and summary.lines == 3
    assert _rows(store) == expected
    assert ingest_paths(store, [path]).new_total == 0  # idempotent in every format
    assert verify_store(store).ok


def test_a_single_bare_protobuf_request(tmp_path, spans, expected):
    path = tmp_path / "one.pb"
    path.write_bytes(encode_spans(list(spans)).SerializeToString())
    store = Store(tmp_path / "data")
    assert ingest_paths(store, [path]).problems == []
    assert _rows(store) == expected


def test_a_directory_reads_every_format_and_names_what_it_cannot_read(tmp_path, spans):
    d = tmp_path / "exports"
    (d / "sub").mkdir(parents=True)
    (d / "a.pb").write_bytes(_framed(spans[:5]))
    (d / "sub" / "b.jsonl.gz").write_bytes(
        gzip.compress("\n".join(encode_lines(spans[5:])).encode())
    )
    (d / "broken.jsonl").write_bytes(b"\xff\xfe\x00binary")
    (d / "cut.json.gz").write_bytes(gzip.compress(b'{"resourceSpans": []}')[:-6])
    (d / "README.txt").write_text("not traces")
    result = CliRunner().invoke(
        cli, ["ingest", "otel", str(d), "--create", "--data-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 1, result.output
    out = result.output
    assert "13 span(s)" in out and "5 new tool call(s)" in out
    assert f"{d / 'broken.jsonl'}: cannot read the file (not UTF-8 text" in out
    assert f"{d / 'cut.json.gz'}: cannot read the file (EOFError" in out
    assert "1 file(s) not named as trace exports, left unread" in out


def test_exit_status_zero_when_everything_was_read(tmp_path, spans):
    path = tmp_path / "t.pb"
    path.write_bytes(_framed(spans))
    args = ["ingest", "otel", str(path), "--create", "--data-dir", str(tmp_path / "s")]
    assert CliRunner().invoke(cli, args).exit_code == 0


def test_exit_status_one_when_nothing_could_be_read(tmp_path):
    path = tmp_path / "t.pb"
    path.write_bytes(b"\xff" * 40)
    args = ["ingest", "otel", str(path), "--create", "--data-dir", str(tmp_path / "s")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "expected a protobuf ExportTraceServiceRequest" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        cli, ["ingest", "otel", str(empty), "--data-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and "no trace export found" in result.output


def test_exit_status_two_for_a_usage_error(tmp_path):
    args = ["ingest", "otel", str(tmp_path / "nope.jsonl"), "--data-dir", str(tmp_path / "s")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "nope.jsonl: no such file or directory" in result.output


def test_a_broken_request_among_pretty_printed_ones_is_reported_and_the_rest_kept(tmp_path, spans):
    parts = _pretty(spans).split("\n{\n")
    text = parts[0] + "\n{\n  oops,\n" + "\n{\n".join(parts[1:])
    path = tmp_path / "t.json"
    path.write_text(text)
    summary = ingest_paths(Store(tmp_path / "data"), [path])
    assert len(summary.problems) == 1 and "expected JSON" in summary.problems[0]
    assert summary.spans == 8  # the first and third requests: 5 + 3 spans
