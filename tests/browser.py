"""Headless Chromium for the tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is not used: the tests start the system's Chromium
(``make browser`` installs Debian's) with the flags that keep it from calling home, open a
local file and record every request, console message and page error, so that a test can
require that a page fetched nothing and logged no error.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "ACCESS_SIM_CHROMIUM"
"""Path of a Chromium to use instead of the system's."""
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
NO_CHROMIUM = ("no Chromium found (/usr/bin/chromium, chromium on PATH or $ACCESS_SIM_CHROMIUM): "
               "`make browser` installs Debian's chromium (apt-get, as root)")


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None when there is none."""
    candidates = [os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@dataclass
class PageLog:
    """What a page did: every request's URL, console errors, page errors, dialogs."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium; :meth:`open` loads a local file in a fresh context."""

    def __init__(self, executable: str):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=executable,
                                                     args=list(CHROMIUM_ARGS))
        except BaseException:
            self._pw.stop()
            raise
        self.version = self._browser.version

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()

    @contextlib.contextmanager
    def open(self, path: Path, *, width: int = 1400,
             height: int = 900) -> Iterator[tuple[Any, PageLog]]:
        """The page of ``path`` once loaded, and its log (still recording)."""
        log = PageLog()
        context = self._browser.new_context(viewport={"width": width, "height": height})
        # Nothing may leave the machine even if a page tried: any network request is
        # recorded (below) and aborted here.
        context.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
        page = context.new_page()
        page.on("request", lambda request: log.requests.append(request.url))
        page.on("console", lambda msg: log.console_errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))

        def on_dialog(dialog: Any) -> None:
            log.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        try:
            page.goto(path.resolve().as_uri(), wait_until="load")
            yield page, log
        finally:
            context.close()
