"""Headless Chromium for tests: open a local HTML file, record what the page did.

Drives Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) through the Python
Playwright package, which ships its own driver but no browser here: ``playwright install`` is
never run, ``executable_path`` points at the system browser. Every launch uses a fresh profile
folder and flags that keep Chromium's own background traffic off (updates, sync, QUIC), so any
request recorded comes from the page.

    with headless_chromium() as browser:
        visit = browser.visit(Path("reports/x/index.html"), screenshot=tmp_path / "x.png")
        assert not visit.network_requests and not visit.console_errors
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM_ARGS",
    "Browser",
    "BrowserUnavailable",
    "Visit",
    "find_chromium",
    "headless_chromium",
]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--disable-domain-reliability",
    "--metrics-recording-only",
)
LOCAL_SCHEMES = ("file:", "data:", "about:")


class BrowserUnavailable(RuntimeError):
    """No Chromium binary, or no Playwright package, on this machine."""


@dataclass
class Visit:
    """What happened while a page loaded."""

    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    title: str = ""
    headings: list[str] = field(default_factory=list)
    scroll_width: int = 0  # the page's width in CSS pixels (wider than the viewport: overflow)
    screenshot: Path | None = None

    @property
    def network_requests(self) -> list[str]:
        """Requests for anything but a local file or an inline data URL."""
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


def find_chromium() -> Path:
    """The system Chromium (``PROGNOSIS_CHROMIUM`` overrides), or raise BrowserUnavailable."""
    candidates = [
        os.environ.get("PROGNOSIS_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise BrowserUnavailable(
        "no Chromium found (apt-get install chromium, or set PROGNOSIS_CHROMIUM to its path)"
    )


class Browser:
    """A launched Chromium with a throwaway profile."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def visit(self, path: Path, *, screenshot: Path | None = None, width: int = 1280) -> Visit:
        """Load ``path`` (a local file), wait until the network is idle, record everything."""
        visit = Visit(url=Path(path).resolve().as_uri())
        page = self._context.new_page()
        try:
            page.set_viewport_size({"width": width, "height": 900})
            page.on("request", lambda request: visit.requests.append(request.url))
            page.on(
                "console",
                lambda message: (
                    message.type == "error" and visit.console_errors.append(message.text)
                ),
            )
            page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
            page.goto(visit.url, wait_until="networkidle")
            visit.title = page.title()
            visit.headings = [text.strip() for text in page.locator("h1, h2").all_inner_texts()]
            visit.scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
                visit.screenshot = screenshot
        finally:
            page.close()
        return visit

    def evaluate(self, path: Path, script: str, *, width: int = 1280) -> Any:
        """Load ``path`` at ``width`` CSS pixels and return what ``script`` (a JavaScript
        expression, e.g. an arrow function) evaluates to there."""
        page = self._context.new_page()
        try:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(Path(path).resolve().as_uri(), wait_until="networkidle")
            return page.evaluate(script)
        finally:
            page.close()

    def print_pdf_pages(self, path: Path, pdf: Path) -> int:
        """Print ``path`` with print styles to ``pdf``; the size in bytes."""
        page = self._context.new_page()
        try:
            page.goto(Path(path).resolve().as_uri(), wait_until="networkidle")
            page.emulate_media(media="print")
            page.pdf(path=str(pdf))
        finally:
            page.close()
        return pdf.stat().st_size


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Launch the system Chromium headless; raise BrowserUnavailable when it cannot be."""
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable(
            "the playwright package is not installed (pip install -e '.[dev]')"
        ) from None
    profile = tempfile.mkdtemp(prefix="prognosis-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(executable),
                headless=True,
                args=list(CHROMIUM_ARGS),
                offline=True,
            )
            try:
                yield Browser(context)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
