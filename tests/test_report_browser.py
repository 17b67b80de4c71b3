"""The evidence report in Debian chromium: opened from file:// with no other request, printed to PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_browser

from govlib.report.contents import read_report_data, write_report
from govlib.report.page import SECTIONS
from govlib.store.database import Store

pytestmark = pytest.mark.browser


def _pdf_text(pdf: Path) -> str | None:
    """The PDF's text when a reader is installed (pdftotext, else pypdf), else None."""
    if shutil.which("pdftotext"):
        out = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True
        )
        return out.stdout if out.returncode == 0 else None
    try:
        from pypdf import PdfReader  # type: ignore[import-not-found]
    except ImportError:
        return None
    return "\n".join(page.extract_text() or "" for page in PdfReader(str(pdf)).pages)


def _pdf_pages(pdf: Path) -> int:
    """Page objects in a Chromium (Skia) PDF: ``/Type /Page`` dictionaries, ``/Pages`` excluded."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf.read_bytes()))


def _written_report(demo_dir: Path) -> tuple[Path, str, str]:
    """Write the 30-day report; (its path, its data SHA, the period line its title page shows)."""
    with Store(demo_dir, create=False) as store:
        path = write_report(store, period="30d")
    data, sha, _ = read_report_data(path.read_text(encoding="utf-8"))
    start, end = data["report"]["start"], data["report"]["end"]
    period = f"30 days: {start[:10]} {start[11:19]} UTC to {end[:10]} {end[11:19]} UTC"
    return path, sha, period


def _offline_router(blocked: list[str]) -> Callable[[object], None]:
    """A route handler letting file: requests through and aborting (and noting) every other."""

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if url.startswith("file:"):
            r.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            r.abort()  # type: ignore[attr-defined]

    return route


def _check_probe_is_blocked(context: Any, blocked: list[str]) -> None:
    """The counter is not vacuous: an external image is caught (then the count starts afresh)."""
    probe = context.new_page()
    probe.set_content('<img src="http://192.0.2.1/probe.png" alt="">')
    probe.wait_for_load_state("load")
    assert blocked == ["http://192.0.2.1/probe.png"]
    blocked.clear()
    probe.close()


def _print_report(context: Any, path: Path, pdf: Path, seen: list[str]) -> str:
    """Open the report, screenshot it and print it to ``pdf``; the page's text in print media."""
    page = context.new_page()
    page.on("request", lambda req: seen.append(req.url))
    page.goto(path.as_uri(), wait_until="load")
    page.emulate_media(media="print")
    text = page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.pdf(path=str(pdf), format="A4", print_background=True)
    return text


def _render_offline(path: Path, pdf: Path, blocked: list[str], seen: list[str]) -> str:
    """Print the report to ``pdf`` in chromium with every non-file: request blocked; its text."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.route("**/*", _offline_router(blocked))
            _check_probe_is_blocked(context, blocked)
            return _print_report(context, path, pdf, seen)
        finally:
            browser.close()


def _check_pdf(pdf: Path, sha: str, period: str) -> None:
    """A PDF with a page per section after the title page; its text, when readable, as shown."""
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = _pdf_pages(pdf)
    assert pages >= 1 + len(SECTIONS), pages  # title page, then every section on a new page
    pdf_text = _pdf_text(pdf)
    if pdf_text is not None:  # a PDF reader is installed: the printed text itself
        flat = " ".join(pdf_text.split())
        assert sha in flat.replace(" ", "") and " ".join(period.split()) in flat
        for _, title in SECTIONS[:5]:
            assert title in flat


def test_report_opens_offline_and_prints_to_pdf(demo_dir):
    require_browser()
    path, sha, period = _written_report(demo_dir)
    blocked: list[str] = []
    seen: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "report.pdf"
    pdf.unlink(missing_ok=True)
    text = _render_offline(path, pdf, blocked, seen)

    assert blocked == []
    assert [u for u in seen if not u.startswith("file:")] == []
    assert text.startswith("AI governance evidence report")
    title_page = text[: text.index("Contents")]
    assert period in title_page and sha in title_page
    for number, (_, title) in enumerate(SECTIONS, start=1):
        assert f"{number}. {title}" in text
    _check_pdf(pdf, sha, period)
