"""Trace export files: which to read, how to open them, and the requests they hold.

Formats (by name, compression by content): ``.json`` / ``.jsonl`` - OTLP/JSON requests one per
line, pretty-printed back to back, or a JSON array of them; ``.pb`` (also ``.binpb``,
``.proto``) - OTLP protobuf, 4-byte-length framed as the Collector ``file`` exporter writes
with ``format: proto`` (varint framing and one bare request are read too). Each may be gzip or
zstd compressed (``.gz``, ``.zst``; detected by the magic bytes). A directory is scanned
recursively for all of them; other files there are counted and named, not read.

A file that cannot be opened or decoded is a problem naming it (``unreadable_files``), never
skipped silently.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from govlib.capture.otel.decoding import OtelFormatError, SpanRecord, parse_line, parse_request
from govlib.capture.otel.protobuf import parse_proto_request, split_delimited
from govlib.capture.otel.writing import IngestSummary
from govlib.errors import GovlibError

__all__ = ["BytesReader", "OtelIngestError", "decompressed", "export_files", "read_export", "scan"]

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
PROTO_SUFFIXES = (".pb", ".binpb", ".proto")
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd")
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"
_SPACE = re.compile(r"\s*")
_NEXT_OBJECT = re.compile(r"\n\{")  # a top-level object starts a line
#: Most bytes a compressed export may expand to (a zip bomb is refused, not read into memory).
MAX_EXPANDED = 2 * 1024**3


class OtelIngestError(GovlibError):
    """An ingest input cannot be used at all (missing path); the message names it."""


def _inner_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def is_export_name(path: Path) -> bool:
    """True for a name govlib reads as a trace export (``x.jsonl.gz``, ``x.pb``, ...).

    Example:
        >>> is_export_name(Path("a/traces.jsonl.gz")), is_export_name(Path("notes.txt"))
        (True, False)
    """
    return _inner_suffix(path) in JSON_SUFFIXES + PROTO_SUFFIXES


def scan(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """The export files to read and the other files found in the directories given.

    Raises :class:`OtelIngestError` for a path that does not exist.

    Example:
        >>> scan([])
        ([], [])
    """
    files: list[Path] = []
    others: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file())
            files += [f for f in found if is_export_name(f)]
            others += [f for f in found if not is_export_name(f)]
        elif p.is_file():
            files.append(p)
        else:
            raise OtelIngestError(f"{p}: no such file or directory; expected a trace export")
    return files, others


def export_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files to read: each FILE as given, each DIR's exports (recursive, sorted).

    Example:
        >>> export_files([])
        []
    """
    return scan(paths)[0]


def decompressed(data: bytes, limit: int = MAX_EXPANDED) -> bytes:
    """``data`` gunzipped / un-zstd'ed when it starts with their magic bytes, else as is.

    Raises ``ValueError`` when the content is corrupt or expands beyond ``limit`` bytes.

    Example:
        >>> decompressed(gzip.compress(b"{}"))
        b'{}'
    """
    if data[:2] == _GZIP:
        out = bytearray()
        with gzip.GzipFile(fileobj=BytesReader(data)) as f:
            while chunk := f.read(1 << 20):
                out += chunk
                if len(out) > limit:
                    raise ValueError(f"expands beyond {limit:,} bytes")
        return bytes(out)
    if data[:4] == _ZSTD:
        import zstandard

        try:
            reader = zstandard.ZstdDecompressor().stream_reader(data)
            out = bytearray()
            while chunk := reader.read(1 << 20):
                out += chunk
                if len(out) > limit:
                    raise ValueError(f"expands beyond {limit:,} bytes")
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd: {exc}") from None
        return bytes(out)
    return data


class BytesReader:
    """A minimal file object over bytes (``io.BytesIO`` would copy them)."""

    def __init__(self, data: bytes) -> None:
        self.view, self.at = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.view) if n < 0 else min(len(self.view), self.at + n)
        out = bytes(self.view[self.at : end])
        self.at = end
        return out


def _unreadable(path: Path, why: str, summary: IngestSummary) -> None:
    summary.problems.append(f"{path}: cannot read the file ({why})")
    summary.unreadable_files.append(str(path))


def read_export(path: Path, summary: IngestSummary) -> Iterator[SpanRecord]:
    """Spans of one export file; unreadable files, requests and spans go to ``summary``.

    Counts go to ``summary.files`` / ``summary.lines`` (one per request read).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "t.jsonl"
        >>> _ = p.write_text('{"resourceSpans": []}\\n{oops\\n')
        >>> s = IngestSummary()
        >>> (list(read_export(p, s)), s.lines, len(s.problems))
        ([], 2, 1)
    """
    try:
        data = decompressed(path.read_bytes())
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
        _unreadable(path, f"{type(exc).__name__}: {exc}", summary)
        return
    if _inner_suffix(path) in PROTO_SUFFIXES:
        summary.files += 1
        for number, frame in enumerate(split_delimited(data), start=1):
            summary.lines += 1
            spans, problems = parse_proto_request(frame, f"{path}#{number}")
            summary.problems += [str(p) for p in problems]
            yield from spans
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text ({exc.reason} at byte {exc.start}); expected OTLP/JSON, "
        _unreadable(path, why + "or protobuf named .pb", summary)
        return
    summary.files += 1
    yield from json_requests(text, str(path), summary)


def _line_mode(text: str) -> bool:
    """One compact request per line (the Collector ``file`` exporter's JSON): no line is
    indented and none is a lone ``{`` (JSON text escapes its newlines, so a compact request
    never holds one)."""
    head = text.lstrip()[:3]
    return not ("\n " in text or "\n\t" in text or head[:2] == "{\n" or head == "{\r\n")


def json_requests(text: str, source: str, summary: IngestSummary) -> Iterator[SpanRecord]:
    """Spans of OTLP/JSON text: requests one per line, back to back, or a JSON array.

    Example:
        >>> s = IngestSummary()
        >>> list(json_requests('{"resourceSpans": []}\\n{\\n "resourceSpans": []\\n}', "x", s))
        []
        >>> (s.lines, s.problems)
        (2, [])
    """
    if text.lstrip().startswith("["):
        yield from _array(text, source, summary)
    elif _line_mode(text):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                summary.lines += 1
                spans, problems = parse_line(line, f"{source}:{number}")
                summary.problems += [str(p) for p in problems]
                yield from spans
    else:
        yield from _stream(text, source, summary)


def _request(obj: object, where: str, summary: IngestSummary) -> list[SpanRecord]:
    summary.lines += 1
    try:
        spans, problems = parse_request(obj, where)
    except OtelFormatError as exc:
        spans, problems = [], [exc]
    summary.problems += [str(p) for p in problems]
    return spans


def _array(text: str, source: str, summary: IngestSummary) -> Iterator[SpanRecord]:
    try:
        items = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = getattr(exc, "msg", "too deeply nested")
        line = getattr(exc, "lineno", 1)
        summary.lines += 1
        summary.problems.append(
            str(
                OtelFormatError(
                    "file", text[:60], f"a JSON array ({msg})", source=f"{source}:{line}"
                )
            )
        )
        return
    for number, obj in enumerate(items, start=1):
        yield from _request(obj, f"{source}[{number}]", summary)


def _stream(text: str, source: str, summary: IngestSummary) -> Iterator[SpanRecord]:
    """Requests back to back (pretty-printed); a broken one is reported, reading resumes at
    the next line that opens an object."""
    decoder = json.JSONDecoder()
    at = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    while at < len(text):
        line = text.count("\n", 0, at) + 1
        try:
            obj, end = decoder.raw_decode(text, at)
        except (json.JSONDecodeError, RecursionError) as exc:
            summary.lines += 1
            msg = getattr(exc, "msg", "too deeply nested")
            shown = text[at : at + 60].split("\n", 1)[0]
            problem = OtelFormatError("line", shown, f"JSON ({msg})")
            summary.problems.append(str(problem.at(f"{source}:{line}")))
            found = _NEXT_OBJECT.search(text, at + 1)
            if found is None:
                return
            at = found.start() + 1
        else:
            yield from _request(obj, f"{source}:{line}", summary)
            at = end
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
