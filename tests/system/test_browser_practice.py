"""The practitioner's pages in a real Chromium: My cases, Refer, the case record and the impact
page with its chart (screenshots are written next to the test's temporary files)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.models import Referral
from tests.serving.helpers import (
    FIRST_MONDAY,
    SCHOOL,
    Service,
    load_weeks,
    make_school,
)
from tests.system.browser import Browser, served_app

SHOTS = os.environ.get("EWS_SCREENSHOTS")
"""A directory to keep the screenshots in (to look at them); else the test's own."""


@pytest.fixture
def practice_service(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Service]]:
    """The app under uvicorn with a school of 16 weeks and three referrals made in week 5."""
    with served_app(sqlite_template, tmp_path) as (base, service):
        school = make_school()
        load_weeks(service, school, range(1, 17))
        when = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(weeks=5), dt.time(9))
        with service.db.write() as session:
            for upn in school.upns[-3:]:
                session.add(
                    Referral(
                        school_urn=SCHOOL, upn=upn, status="active", reason="earlier",
                        created_at=when.replace(tzinfo=dt.UTC),
                        updated_at=when.replace(tzinfo=dt.UTC),
                    )
                )  # fmt: skip
        yield base, service


def _shot(browser: Browser, tmp_path: Path, name: str) -> None:
    target = Path(SHOTS) if SHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    browser.screenshot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def _sign_in(browser: Browser, base: str, key: str) -> None:
    browser.navigate(f"{base}/login")
    browser.act_and_wait(
        f"document.getElementById('key').value = {json.dumps(key)};"
        "document.querySelector('form.login button').click()"
    )


def test_refer_accept_record_a_contact_and_read_the_impact_in_chromium(
    chromium_path: str,
    practice_service: tuple[str, Service],
    tmp_path: Path,
) -> None:
    base, service = practice_service
    browser = Browser(chromium_path, tmp_path / "profile")
    try:
        _sign_in(browser, base, service.keys["school"])
        browser.navigate(f"{base}/schools/{SCHOOL}")
        # Refer the first pupil without a referral, from the risk list's Support column.
        browser.act_and_wait("document.querySelector('td.support a[href$=\"/refer\"]').click()")
        assert browser.evaluate("location.pathname").endswith("/refer")
        _shot(browser, tmp_path, "refer")
        browser.act_and_wait(
            "document.getElementById('reason').value = 'Late most mornings since half term';"
            "document.querySelector('form.stack button').click()"
        )
        assert browser.evaluate("location.pathname").startswith("/cases/")
        browser.act_and_wait("document.querySelector('form.logout button').click()")

        _sign_in(browser, base, service.keys["practitioner"])
        browser.navigate(f"{base}/cases")
        text = browser.evaluate("document.body.innerText")
        assert "Waiting to be taken on (1)" in text
        _shot(browser, tmp_path, "cases")
        browser.act_and_wait("document.querySelector('#waiting ~ table a').click()")
        assert "Late most mornings" in browser.evaluate("document.body.innerText")
        browser.act_and_wait("document.querySelector('form[action$=\"/move\"] button').click()")
        browser.act_and_wait(
            "document.getElementById('kind').value = 'home_visit';"
            "document.getElementById('note').value = 'Mum works nights; agreed a morning plan';"
            "document.getElementById('action').value = 'Form tutor check-in each morning';"
            "document.querySelector('form[action$=\"/contacts\"] button').click()"
        )
        text = browser.evaluate("document.body.innerText")
        assert "Home visit" in text and "support service only" in text
        assert "active" in browser.evaluate("document.querySelector('p.meta').innerText")
        _shot(browser, tmp_path, "case")

        browser.navigate(f"{base}/impact?scope=school&school={SCHOOL}")
        chart = browser.evaluate(
            "(() => { const s = document.querySelector('svg.chart');"
            " return s && {bars: s.querySelectorAll('rect').length,"
            " width: s.getBoundingClientRect().width}; })()"
        )
        assert chart is not None and chart["bars"] == 4 and chart["width"] > 300
        assert "Adjusted estimate" in browser.evaluate("document.body.innerText")
        _shot(browser, tmp_path, "impact")
    finally:
        browser.close()
