"""The web pages as a person uses them (TestClient; both databases): sign in with a key, the
schools, the risk list, a pupil page — scoped, escaped, audited and free of external URLs."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from sqlalchemy import select

from serving.models import AuditEvent, Pupil
from serving.routes.pages import (
    COOKIE,
    change_points,
    line_chart,
    percent,
    record_date,
    risk_percent,
    signed,
)
from tests.serving.helpers import OTHER_SCHOOL, SCHOOL, Service, load_weeks

WEEKS = range(1, 7)


def login(service: Service, role: str) -> None:
    response = service.client.post(
        "/login", data={"key": service.keys[role]}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


def pupil_links(html: str) -> list[tuple[str, str]]:
    """(href, name) of each pupil row of a risk-list page, in page order."""
    return [
        (href, unescape(name))
        for href, name in re.findall(r'<a class="pupil" href="([^"]+)">([^<]*)</a>', html)
    ]


def audit_rows(service: Service) -> list[tuple[str, int | None, int | None, str | None]]:
    with service.db.read_session() as session:
        rows = session.execute(
            select(
                AuditEvent.action, AuditEvent.key_id, AuditEvent.school_urn, AuditEvent.upn
            ).order_by(AuditEvent.id)
        ).all()
    return [tuple(r) for r in rows]


# --- signing in -------------------------------------------------------------------------------


def test_login_sets_an_httponly_strict_session_cookie_and_logout_clears_it(
    service: Service,
) -> None:
    form = service.client.get("/login")
    assert form.status_code == 200
    assert '<label for="key">' in form.text and 'id="key"' in form.text

    bad = service.client.post("/login", data={"key": "ews_not-a-key"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "not valid" in bad.text
    assert "set-cookie" not in bad.headers

    response = service.client.post(
        "/login", data={"key": service.keys["school"]}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and service.keys["school"] not in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/" in cookie

    home = service.client.get("/")
    assert home.status_code == 200
    assert f'href="/schools/{SCHOOL}"' in home.text
    assert "Oak Lane Primary" in home.text
    assert "Elm Road Primary" not in home.text  # a school key sees its own school only

    out = service.client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert COOKIE not in service.client.cookies
    assert service.client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_huge_login_form_is_refused_without_reading_it_all(service: Service) -> None:
    response = service.client.post("/login", data={"key": "ews_" + "x" * 200_000})
    assert response.status_code == 413
    assert "too long" in response.text
    assert COOKIE not in response.cookies


def test_pages_without_a_valid_cookie_send_you_to_login(service: Service) -> None:
    for path in ("/", f"/schools/{SCHOOL}", f"/schools/{SCHOOL}/pupils/X", "/schools/1/risk.csv"):
        response = service.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login"
    service.client.cookies.set(COOKIE, "ews_revoked-or-made-up")
    refused = service.client.get("/", follow_redirects=False)
    assert refused.headers["location"] == "/login?key_refused=1"
    assert "no longer works" in service.client.get(refused.headers["location"]).text
    assert "no longer works" not in service.client.get("/login").text
    # A Bearer header is for the API; the pages go by the cookie only.
    response = service.client.get("/", headers=service.auth("school"), follow_redirects=False)
    assert response.status_code == 303


def test_a_school_key_cannot_open_another_schools_pages(service: Service, school) -> None:
    load_weeks(service, school, WEEKS)
    login(service, "other_school")
    upn = school.upns[0]
    for path in (
        f"/schools/{SCHOOL}",
        f"/schools/{SCHOOL}/pupils/{upn}",
        f"/schools/{SCHOOL}/risk.csv",
    ):
        response = service.client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        assert "may not see pupils of school 123456" in response.text
        assert "Amira" not in response.text and upn not in response.text
    # Nothing was read, so nothing is recorded as read.
    assert not [a for a in audit_rows(service) if a[0] in ("risk_list.read", "pupil.read")]

    login(service, "admin")  # admins manage schools but never see pupils
    assert service.client.get(f"/schools/{SCHOOL}").status_code == 403
    home = service.client.get("/")
    assert "Oak Lane Primary" in home.text and f'href="/schools/{SCHOOL}"' not in home.text


# --- the risk list ----------------------------------------------------------------------------


def test_risk_list_page_shows_the_api_list_in_risk_order(service: Service, school) -> None:
    load_weeks(service, school, WEEKS)
    api = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 50}, headers=service.auth("school")
    ).json()
    login(service, "practitioner")
    # A practitioner starts on the "heading there" list; everyone is one link away.
    default = service.client.get(f"/schools/{SCHOOL}")
    assert '<strong aria-current="page">Heading there' in default.text
    heading = [p["name"] for p in api["pupils"] if p["heading_there"]]
    assert [name for _, name in pupil_links(default.text)] == heading
    page = service.client.get(f"/schools/{SCHOOL}", params={"view": "all"})
    assert page.status_code == 200
    html = page.text

    links = pupil_links(html)
    assert [name for _, name in links] == [p["name"] for p in api["pupils"]]
    assert [href for href, _ in links][0] == (f"/schools/{SCHOOL}/pupils/{api['pupils'][0]['upn']}")
    risks = [p["risk"] for p in api["pupils"]]
    assert risks == sorted(risks, reverse=True) and risks[0] > risks[-1]

    # The header names the model and the date the scores are for.
    assert f"version {api['model_version']}" in html
    assert api["as_of"] in html
    # Risk as a whole percentage, the tier in words, attendance and trend, the reasons.
    top = api["pupils"][0]
    assert risk_percent(top["risk"]) in unescape(html)
    # The tier's wording once, in the legend, not on every row.
    assert unescape(html).count(top["tier_label"]) == 1
    assert f"{top['attendance_ytd'] * 100:.1f}%" in html
    assert top["reasons"][0]["text"] in unescape(html)
    assert "conversation with the family, not a verdict" in html
    assert f'href="/schools/{SCHOOL}/risk.csv?view=all"' in html
    # Filters are a GET form with labelled controls.
    assert '<form method="get"' in html and '<label for="year_group">' in html


def test_risk_list_filters_and_csv_export(service: Service, school) -> None:
    load_weeks(service, school, WEEKS)
    login(service, "school")
    rows = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
    ).json()["pupils"]
    high = [p["name"] for p in rows if p["tier"] == "high"]
    year5 = [p["name"] for p in rows if p["year_group"] == 5]
    emerging = [p["name"] for p in rows if p["emerging"]]
    assert high and year5 and emerging and len(year5) < len(rows)

    page = service.client.get(f"/schools/{SCHOOL}", params={"tier": "high"})
    assert [n for _, n in pupil_links(page.text)] == high
    page = service.client.get(f"/schools/{SCHOOL}", params={"year_group": ["5", ""]})
    assert [n for _, n in pupil_links(page.text)] == year5
    assert '<option value="5" selected>' in page.text
    page = service.client.get(f"/schools/{SCHOOL}", params={"emerging": "true"})
    assert [n for _, n in pupil_links(page.text)] == emerging
    # "All year groups" (empty) is no filter; a made-up year group is a clear error.
    page = service.client.get(f"/schools/{SCHOOL}", params={"year_group": ""})
    assert len(pupil_links(page.text)) == len(rows)
    bad = service.client.get(f"/schools/{SCHOOL}", params={"year_group": "five"})
    assert bad.status_code == 422 and "'five' is not a year group" in unescape(bad.text)
    bad = service.client.get(f"/schools/{SCHOOL}", params={"year_group": "14"})
    assert bad.status_code == 422 and "0 for Reception, 1 to 13" in unescape(bad.text)

    csv_page = service.client.get(f"/schools/{SCHOOL}/risk.csv", params={"tier": "high"})
    assert csv_page.status_code == 200
    assert csv_page.headers["content-type"].startswith("text/csv")
    lines = csv_page.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("rank,upn,name")
    assert len(lines) == 1 + len(high)


def test_a_school_without_scores_says_so(service: Service) -> None:
    login(service, "school")
    response = service.client.get(f"/schools/{SCHOOL}")
    assert response.status_code == 404
    assert "no scores for school 123456 yet" in response.text
    assert "upload the roster" in response.text


# --- the pupil page ---------------------------------------------------------------------------


def test_pupil_page_has_charts_with_text_alternatives_and_reasons(service: Service, school):
    load_weeks(service, school, WEEKS)
    upn = school.upns[-1]  # declines from week 3: the highest risk
    api = service.client.get(
        f"/v1/pupils/{upn}", params={"school": SCHOOL}, headers=service.auth("school")
    ).json()
    login(service, "school")
    page = service.client.get(f"/schools/{SCHOOL}/pupils/{upn}")
    assert page.status_code == 200
    html = page.text
    assert f"<h1>{api['name']}</h1>" in html
    assert html.count('<svg class="chart"') == 2
    assert "<title>Weekly attendance</title>" in html
    assert "<title>Risk over the weeks</title>" in html
    assert html.count("<desc>") == 2
    # The numbers behind the chart, as a table: one row per school week.
    assert html.count('<th scope="row">2024-') == len(api["weeks"]) + len(api["risk_history"])
    assert len(api["weeks"]) == len(WEEKS)
    assert f"version {api['latest']['model_version']}" in html
    for reason in api["latest"]["reasons"]:
        assert reason["text"] in unescape(html)
    assert risk_percent(api["latest"]["risk"]) in unescape(html)

    missing = service.client.get(f"/schools/{SCHOOL}/pupils/{school.upns[0][:-1]}Z")
    assert missing.status_code == 404
    assert "no pupil with this UPN" in missing.text


def test_html_in_a_pupil_name_renders_as_text(service: Service, school) -> None:
    load_weeks(service, school, WEEKS)
    upn = school.upns[-1]
    evil = '<script>alert("x")</script><b onmouseover=1>Zed</b>'
    with service.db.write() as session:
        session.get(Pupil, (SCHOOL, upn)).forename = evil
    login(service, "school")
    for path in (f"/schools/{SCHOOL}", f"/schools/{SCHOOL}/pupils/{upn}"):
        html = service.client.get(path).text
        assert "<script>" not in html and "<b onmouseover" not in html, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path


# --- audit and offline ------------------------------------------------------------------------


def test_every_page_with_pupil_data_writes_the_apis_audit_record(service: Service, school):
    load_weeks(service, school, WEEKS)
    login(service, "practitioner")
    upn = school.upns[3]
    before = len(audit_rows(service))
    service.client.get("/")
    assert len(audit_rows(service)) == before  # the school list holds no pupil data
    assert service.client.get(f"/schools/{SCHOOL}").status_code == 200
    assert service.client.get(f"/schools/{SCHOOL}/pupils/{upn}").status_code == 200
    assert service.client.get(f"/schools/{SCHOOL}/risk.csv").status_code == 200
    rows = audit_rows(service)[before:]
    key_ids = {k for _, k, _, _ in rows}
    assert [(a, s, u) for a, _, s, u in rows] == [
        ("risk_list.read", SCHOOL, None),
        ("pupil.read", SCHOOL, upn),
        ("risk_list.export", SCHOOL, None),
    ]
    assert len(key_ids) == 1 and None not in key_ids


def test_no_page_or_stylesheet_names_an_external_url(service: Service, school) -> None:
    load_weeks(service, school, range(1, 4))
    pages = [service.client.get("/login"), service.client.get("/static/style.css")]
    login(service, "practitioner")
    pages += [
        service.client.get("/"),
        service.client.get(f"/schools/{SCHOOL}"),
        service.client.get(f"/schools/{SCHOOL}/pupils/{school.upns[5]}"),
        service.client.get(f"/schools/{OTHER_SCHOOL}"),  # 404 page: no scores yet
    ]
    login(service, "other_school")
    pages.append(service.client.get(f"/schools/{SCHOOL}"))  # 403 page
    assert [p.status_code for p in pages] == [200, 200, 200, 200, 200, 404, 403]
    assert pages[1].headers["content-type"].startswith("text/css")
    for response in pages:
        body = response.text.lower()
        assert "http://" not in body and "https://" not in body, response.url
        assert "<script" not in body, response.url  # no JavaScript at all


def test_the_api_docs_page_loads_everything_from_the_service_itself(service: Service) -> None:
    page = service.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "http://" not in html.lower() and "https://" not in html.lower()
    assert "//cdn" not in html and "jsdelivr" not in html and "unpkg" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == ["/static/favicon.png", "/static/swagger-ui-bundle.js",
                              "/static/swagger-ui.css"]  # fmt: skip
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        response = service.client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(types[asset[asset.rindex(".") :]])
        assert len(response.content) > 500
    assert "SwaggerUIBundle" in service.client.get("/static/swagger-ui-bundle.js").text
    # The description is never sent to Swagger's online validator.
    assert '"validatorUrl": null' in html
    assert service.client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
    assert service.client.get("/static/../settings.py").status_code == 404


# --- formatting and charts (pure functions) -------------------------------------------------


def test_numbers_are_worded_the_way_the_page_shows_them() -> None:
    assert percent(0.9234) == "92.3%"
    assert percent(0.5, 0) == "50%"
    assert percent(None) == "–"
    assert change_points(-0.052) == "−5.2 pts"
    assert change_points(0.031) == "+3.1 pts"
    assert change_points(0.0001) == "no change"
    assert change_points(None) == "–"
    assert risk_percent(0.996) == ">99%"  # a probability never reads as certainty
    assert risk_percent(0.994) == "99%"
    assert risk_percent(0.004) == "<1%"
    assert risk_percent(0.25) == "25%"
    assert signed(-0.04) == "0.0"  # never "−0.0"
    assert signed(-1.26) == "−1.3"
    assert signed(2.0, 2) == "+2.00"
    assert record_date("2026-12-03") == "3 Dec 2026"
    assert record_date(dt.datetime(2026, 1, 9, 15, 30)) == "9 Jan 2026"
    assert record_date("2026-12-03T10:00:00+00:00") == "3 Dec 2026"


def test_line_chart_escapes_text_and_breaks_lines_at_gaps() -> None:
    svg = str(
        line_chart(
            [("A<b>", [0.9, None, 0.8, 0.7])],
            ["w1", "w2", "w3", "<w4>"],
            title="T & <i>",
            description="D",
        )
    )
    assert "<title>T &amp; &lt;i&gt;</title>" in svg and "A&lt;b&gt;" in svg
    assert "&lt;w4&gt;" in svg
    # The gap at w2 leaves a lone point (w1) and one line through w3 and w4.
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3
    # 100% at the top of the plot, 0% at the bottom: 0.9 sits above 0.7.
    ys = [float(y) for y in re.findall(r'<circle[^>]* cy="([\d.]+)"', svg)]
    assert ys[0] < ys[2]


def test_a_page_asked_for_with_an_invalid_filter_answers_with_an_html_page(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 3))
    login(service, "school")
    page = service.client.get(f"/schools/{SCHOOL}", params={"tier": "xx", "offset": "-1"})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "Not a valid request" in page.text
    assert "tier" in page.text and "offset" in page.text
    # The API keeps FastAPI's JSON answer for the same mistake.
    api = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"tier": "xx"}, headers=service.auth("school")
    )
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/json"
    assert api.json()["detail"][0]["loc"][-2:] == ["tier", 0]
