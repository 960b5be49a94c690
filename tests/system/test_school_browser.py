"""The school's own pages in a real headless Chromium: the overview's figures equal the API's,
groups, the two lists with search and sorting, and uploads from the browser's form (a refused
file shows its report; an accepted one joins the history)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.routes.pages import percent
from tests.serving.helpers import (
    SCHOOL,
    Service,
    load_weeks,
    make_school,
)
from tests.system.browser import TIMEOUT, Browser, served_app

SHOTS = os.environ.get("EWS_SCREENSHOTS")  # a directory to keep the screenshots in


@pytest.fixture
def school_service(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Service, Path]]:
    school = make_school(SCHOOL, n=40)
    with served_app(sqlite_template, tmp_path) as (base, service):
        load_weeks(service, school, range(1, 7))
        week7 = tmp_path / "week7.csv"
        week7.write_bytes(school.week_csv(7))
        yield base, service, week7


def _shot(browser: Browser, tmp_path: Path, name: str) -> None:
    """The whole page (not only the window) as a PNG."""
    target = Path(SHOTS) if SHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    height = int(browser.evaluate("document.documentElement.scrollHeight"))
    metrics = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.call("Emulation.setDeviceMetricsOverride", session=True, **metrics)
    browser.screenshot(target / f"{name}.png")
    browser.call("Emulation.clearDeviceMetricsOverride", session=True)


def _set_file(browser: Browser, selector: str, path: Path) -> None:
    found = browser.call(
        "Runtime.evaluate", session=True, expression=f"document.querySelector('{selector}')"
    )
    browser.call(
        "DOM.setFileInputFiles",
        session=True,
        files=[str(path)],
        objectId=found["result"]["objectId"],
    )


def test_overview_groups_lists_and_uploads_in_chromium(
    chromium_path: str,
    school_service: tuple[str, Service, Path],
    tmp_path: Path,
) -> None:
    base, service, week7 = school_service
    browser = Browser(chromium_path, tmp_path / "profile")
    try:
        browser.navigate(f"{base}/login")
        key = json.dumps(service.keys["school"])
        browser.act_and_wait(
            f"document.getElementById('key').value = {key};"
            "document.querySelector('form.login button').click()"
        )
        # The school's name leads to its overview.
        browser.act_and_wait(
            f"document.querySelector('a[href=\"/schools/{SCHOOL}/overview\"]').click()"
        )
        assert browser.evaluate("location.pathname") == f"/schools/{SCHOOL}/overview"
        api = httpx.get(
            f"{base}/v1/schools/{SCHOOL}/overview", headers=service.auth("school"), timeout=TIMEOUT
        ).json()
        cells = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#headline tbody tr')].map(r =>"
            " [r.dataset.measure, [r.querySelector('.school').innerText,"
            " r.querySelector('.authority').innerText, r.querySelector('.england').innerText]]))"
        )
        for measure, (mine, authority, england) in cells.items():
            assert mine == percent(api["school"][measure])
            assert authority == percent(api["authority"][measure])
            if measure != "severe_absence":
                assert england == percent(api["england"][measure])
        counts = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[data-count]')].map(c =>"
            " [c.dataset.count, Number(c.innerText)]))"
        )
        assert counts == api["counts"]
        text = browser.evaluate("document.body.innerText")
        assert "2023/24" in text and "not this school's year" in text
        chart = browser.evaluate(
            "(() => { const s = document.querySelector('svg.chart');"
            " return {lines: s.querySelectorAll('polyline').length,"
            " width: s.getBoundingClientRect().width,"
            " labels: [...s.querySelectorAll('text.axis')].map(t => t.textContent)}; })()"
        )
        assert chart["lines"] == 3 and chart["width"] > 300
        assert "2 Sep" in chart["labels"]
        _shot(browser, tmp_path, "overview")

        browser.navigate(f"{base}/schools/{SCHOOL}/groups")
        sexes = browser.evaluate(
            "[...document.querySelectorAll('#groups-sex tbody th')].map(t => t.innerText)"
        )
        assert sexes == ["Girls", "Boys"]
        _shot(browser, tmp_path, "groups")

        # The "heading there" list, then a search by name, then sorted by name.
        browser.navigate(f"{base}/schools/{SCHOOL}?view=heading")
        heading = httpx.get(
            f"{base}/v1/schools/{SCHOOL}/risk", params={"view": "heading"},
            headers=service.auth("school"), timeout=TIMEOUT,
        ).json()  # fmt: skip
        names = browser.evaluate("[...document.querySelectorAll('a.pupil')].map(a => a.innerText)")
        assert names == [p["name"] for p in heading["pupils"]] and names
        _shot(browser, tmp_path, "risk_heading")
        browser.navigate(f"{base}/schools/{SCHOOL}?view=all")
        browser.act_and_wait(
            "document.getElementById('search').value = 'khan';"
            "document.querySelector('form.filters button').click()"
        )
        names = browser.evaluate("[...document.querySelectorAll('a.pupil')].map(a => a.innerText)")
        assert names and all("Khan" in n for n in names)
        browser.navigate(f"{base}/schools/{SCHOOL}?view=all&sort=name")
        surnames = browser.evaluate(
            "[...document.querySelectorAll('a.pupil')].map(a => a.innerText.split(' ')[1])"
        )
        assert surnames == sorted(surnames)
        _shot(browser, tmp_path, "risk_all")

        # A pupil at the penalty-notice threshold: the sessions that count, on their page.
        everyone = httpx.get(
            f"{base}/v1/schools/{SCHOOL}/risk", params={"limit": 100},
            headers=service.auth("school"), timeout=TIMEOUT,
        ).json()["pupils"]  # fmt: skip
        flagged = next(p for p in everyone if p["penalty_reached"])
        browser.navigate(f"{base}/schools/{SCHOOL}/pupils/{flagged['upn']}")
        sessions = browser.evaluate(
            "[...document.querySelectorAll('#penalty-sessions td')].map(c => Number(c.textContent))"
        )
        assert sum(sessions) == flagged["penalty_sessions"] >= 10
        assert "Support first" in browser.evaluate("document.body.innerText")
        _shot(browser, tmp_path, "pupil")

        # Uploads: a refused file shows its report as a page; a good one joins the history.
        browser.navigate(f"{base}/schools/{SCHOOL}/uploads")
        before = browser.evaluate("document.querySelectorAll('#history tbody tr').length")
        bad = tmp_path / "bad.csv"
        bad.write_text("upn,date,session,mark\nX,2024-13-01,AM,/\n")
        _set_file(browser, "#registers-file", bad)
        browser.act_and_wait(
            "document.querySelector('form[action$=\"/registers\"] button').click()"
        )
        report = browser.evaluate(
            "[...document.querySelectorAll('#report tbody tr')].map(r =>"
            " [...r.children].map(c => c.innerText))"
        )
        assert ["bad.csv", "2", "date", "2024-13-01"] in [row[:4] for row in report]
        _shot(browser, tmp_path, "upload_refused")
        _set_file(browser, "#registers-file", week7)
        browser.act_and_wait(
            "document.querySelector('form[action$=\"/registers\"] button').click()"
        )
        assert "week7.csv was accepted" in browser.evaluate(
            "document.getElementById('outcome').innerText"
        )
        after = browser.evaluate(
            "[...document.querySelectorAll('#history tbody tr')].map(r => r.innerText)"
        )
        assert len(after) == before + 1 and "week7.csv" in after[0]
        _shot(browser, tmp_path, "upload_done")
    finally:
        browser.close()
