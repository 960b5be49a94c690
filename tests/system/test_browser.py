"""The web pages in a real headless Chromium against a real uvicorn server
(``tests.system.browser``: how Chromium is driven, and when these tests run)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.helpers import SCHOOL, Service, load_weeks, make_school
from tests.system.browser import TIMEOUT, Browser, served_app


@pytest.fixture
def live_service(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Service]]:
    """The app under uvicorn on 127.0.0.1 (a free port, a thread), with a loaded school."""
    with served_app(sqlite_template, tmp_path) as (base, service):
        load_weeks(service, make_school(), range(1, 7))
        yield base, service


def test_sign_in_risk_list_and_pupil_page_in_chromium(
    chromium_path: str, live_service: tuple[str, Service], tmp_path: Path
) -> None:
    base, service = live_service
    browser = Browser(chromium_path, tmp_path / "profile")
    try:
        # Without the cookie every page leads to the sign-in form.
        browser.navigate(f"{base}/schools/{SCHOOL}")
        assert browser.evaluate("location.pathname") == "/login"

        # Sign in the way a person does: type the key, press the button.
        key = json.dumps(service.keys["practitioner"])
        browser.act_and_wait(
            f"document.getElementById('key').value = {key};"
            "document.querySelector('form.login button').click()"
        )
        assert browser.evaluate("location.pathname") == "/"
        # HttpOnly: the page itself cannot read the session id (and the key is not in it).
        assert "ews_session" not in browser.evaluate("document.cookie")
        assert "Oak Lane Primary" in browser.evaluate("document.body.innerText")

        browser.act_and_wait(f"document.querySelector('a[href=\"/schools/{SCHOOL}\"]').click()")
        assert browser.evaluate("document.querySelector('h1').innerText").startswith(
            "Oak Lane Primary"
        )
        names = browser.evaluate("[...document.querySelectorAll('a.pupil')].map(a => a.innerText)")
        # A practitioner starts on the "heading there" list.
        api = httpx.get(
            f"{base}/v1/schools/{SCHOOL}/risk",
            params={"view": "heading"},
            headers=service.auth("practitioner"),
            timeout=TIMEOUT,
        ).json()
        assert names == [p["name"] for p in api["pupils"]] and names
        # The stylesheet loaded (from the app itself) and applies.
        assert browser.evaluate("document.styleSheets.length") == 1
        assert (
            browser.evaluate("getComputedStyle(document.querySelector('header.site')).display")
            == "flex"
        )
        browser.screenshot(tmp_path / "risk_list.png")

        # Click the highest-risk pupil through to their page.
        browser.act_and_wait("document.querySelector('a.pupil').click()")
        assert browser.evaluate("location.pathname") == (
            f"/schools/{SCHOOL}/pupils/{api['pupils'][0]['upn']}"
        )
        assert (
            browser.evaluate("document.querySelector('h1').innerText") == api["pupils"][0]["name"]
        )
        charts = browser.evaluate(
            "[...document.querySelectorAll('svg.chart')].map(s => ({"
            "title: s.querySelector('title').textContent,"
            "lines: s.querySelectorAll('polyline').length,"
            "width: s.getBoundingClientRect().width}))"
        )
        assert [c["title"] for c in charts] == ["Weekly attendance", "Risk over the weeks"]
        assert all(c["lines"] >= 1 and c["width"] > 300 for c in charts)
        shot = tmp_path / "pupil.png"
        browser.screenshot(shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

        # Signing out clears the cookie: the next page asks for the key again.
        browser.act_and_wait("document.querySelector('form.logout button').click()")
        assert browser.evaluate("location.pathname") == "/login"
        browser.navigate(f"{base}/")
        assert browser.evaluate("location.pathname") == "/login"
    finally:
        browser.close()


def test_api_docs_render_in_chromium_from_the_service_alone(
    chromium_path: str, live_service: tuple[str, Service], tmp_path: Path
) -> None:
    base, _ = live_service
    browser = Browser(chromium_path, tmp_path / "profile")
    try:
        browser.call("Network.enable", session=True)
        browser.navigate(f"{base}/docs")
        deadline = time.monotonic() + TIMEOUT
        operations = 0
        while operations == 0 and time.monotonic() < deadline:
            operations = browser.evaluate("document.querySelectorAll('.opblock').length")
            time.sleep(0.1)
        # Swagger UI ran (its script and the API description both came from the service).
        assert operations >= 10
        paths = browser.evaluate(
            "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)"
        )
        assert any("/v1/schools/{urn}/risk" in p.replace("\u200b", "") for p in paths)
        requested = [
            e["params"]["request"]["url"]
            for e in browser.seen
            if e.get("method") == "Network.requestWillBeSent"
        ]
        fetched = [url for url in requested if not url.startswith("data:")]  # inline images
        assert f"{base}/static/swagger-ui-bundle.js" in fetched
        assert f"{base}/openapi.json" in fetched
        assert all(url.startswith(base + "/") for url in fetched), fetched
    finally:
        browser.close()
