"""Browser-test helpers: a headless Chromium spoken to over the DevTools pipe, and the app
served by uvicorn on 127.0.0.1 with the test keys.

Chromium is driven over ``--remote-debugging-pipe`` (JSON messages ending in NUL on file
descriptors 3 and 4): no websocket client and no WebDriver are needed, only the Debian package
``chromium``. The tests run whenever CI is set (and fail if Chromium is missing there); they
are skipped only without CI and without a Chromium binary.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.app import create_app
from serving.db import Database
from tests.serving.helpers import FakeSource, Service, add_keys, live_server, make_settings

TIMEOUT = 20.0


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but no chromium binary was found: apt-get install chromium")
        pytest.skip("no chromium binary (apt-get install chromium); CI runs this test")
    return path


def _above_four(fd: int) -> int:
    """``fd`` moved to a descriptor numbered 10 or more."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """A headless Chromium with one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above 4, so that the moves below never close the end they just placed (a process
        # with few files open gets pipe ends numbered 3 and 4 themselves).
        to_chrome_r, from_chrome_w = _above_four(to_chrome_r), _above_four(from_chrome_w)
        # Chromium reads commands on fd 3 and writes answers and events on fd 4. bash puts the
        # pipe ends there (a preexec_fn would fork-and-run Python while the server's threads
        # hold locks).
        moves = f"3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-"
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" {moves}', binary, *args],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded = json.loads(message)
        if "method" in decoded:
            self.seen.append(decoded)  # every event, also those a wait has consumed
        return decoded

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_load(self) -> None:
        """Wait for the page's load event (kept from earlier, or still to come)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == "Page.loadEventFired":
                    del self.events[: i + 1]
                    return
            self.events.append(self._read_message(deadline))

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for_load()

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def act_and_wait(self, expression: str) -> None:
        """Run ``expression`` (a click or a submit) and wait for the next page to load."""
        self.events.clear()
        self.evaluate(expression)
        self.wait_for_load()

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing to close
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@contextlib.contextmanager
def served_app(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Service]]:
    """The app under uvicorn on 127.0.0.1 (a free port, a thread) on a copy of the migrated
    SQLite template, with the test keys; the caller loads what its pages need."""
    path = tmp_path / "ews.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}", busy_timeout_ms=2000)
    app = create_app(make_settings(tmp_path), db=db, model_source=FakeSource("1"))
    keys = add_keys(db)
    try:
        with live_server(app) as base, httpx.Client(base_url=base, timeout=TIMEOUT) as client:
            yield base, Service(client, db, None, keys)  # type: ignore[arg-type]
    finally:
        db.dispose()
