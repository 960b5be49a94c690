"""Web pages for schools and practitioners: server-rendered HTML, no JavaScript, no CDN.

The pages are a thin layer over the use cases the JSON API calls. A person pastes an API key
once at ``/login`` (a form from another site is refused); the server starts a session and the
browser keeps only its random id, in an HttpOnly, SameSite=Strict cookie. Every page looks the
session up with its key (:func:`serving.auth.session_principal`: a revoked key ends its
sessions) and applies the same role/school scoping
(:meth:`Principal.may_read_pupils`) as the API. The data comes from the same service functions
(:func:`serving.risk_lists.read_page`, :func:`serving.pupils.pupil_record`,
:func:`serving.schools.schools_in_scope`), so a page shows exactly what the API answers and
writes the same audit record. A refusal is answered by the app's one handler, as an HTML page
(:func:`refusal_page`).

Charts are inline SVG drawn here, each with a ``<title>``/``<desc>`` and the numbers as a table
beside it (the text alternative).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from serving import caseload, pupils, risk_lists
from serving.auth import (
    Principal,
    authenticate,
    end_web_session,
    session_principal,
    start_web_session,
)
from serving.deps import DatabaseDep, HolderDep, SettingsDep
from serving.errors import Invalid, NotFound, ServiceError, http_status
from serving.risk_lists import SHORT_TIER, RiskQuery, Sort, Tier, View
from serving.schemas import MAX_DB_INT
from serving.schools import schools_in_scope
from serving.store.rows import get_school

COOKIE = "ews_session"
"""Name of the cookie holding the browser's session id (HttpOnly: page scripts can never read
it). The key itself never goes into the browser's storage: the server keeps the session
(``web_sessions``) and what key it stands for."""

_HERE = Path(__file__).resolve().parent.parent
_CSS = (_HERE / "static" / "style.css").read_bytes()
# Autoescape on for every template, whatever its extension: names may contain HTML.
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(str(_HERE / "templates")), autoescape=True)
)

router = APIRouter(tags=["pages"], include_in_schema=False)
_LOGIN_BODY_LIMIT = 16 * 1024


# --- authentication ---------------------------------------------------------------------------


class LoginRequired(Exception):
    """No valid key in the cookie: the page answers with a redirect to /login (saying why
    when the cookie held a key that no longer works)."""

    def __init__(self, key_refused: bool = False) -> None:
        super().__init__(key_refused)
        self.key_refused = key_refused


KEY_REFUSED = (
    "This browser's sign-in no longer works (it has expired, or the key was revoked or "
    "replaced): paste a current key, or ask your administrator for one."
)

OTHER_SITE = (
    "This form was sent from another site, so it was refused. Open the service's own sign-in "
    "page and sign in there."
)


def _from_this_site(request: Request) -> bool:
    """Whether a form came from the service's own pages: a browser names the page's origin on
    every POST (the Referrer-Policy keeps it for the service's own pages), so another origin,
    or ``null``, is a form on another site (cross-site request forgery). A client that sends
    no Origin is not a browser posting a form."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _principal(request: Request, db: Any) -> Principal:
    """The key of the browser's session: its key and schools, exactly as the API sees a
    Bearer key (a revoked key ends its sessions)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise LoginRequired
    with db.read_session() as session:
        principal = session_principal(session, session_id)
    if principal is None:
        raise LoginRequired(key_refused=True)
    request.state.principal = principal  # an error page then still shows who is signed in
    return principal


async def login_required(request: Request, exc: Exception) -> Response:
    """A page asked for without a valid session (:class:`LoginRequired`, raised by
    :func:`_principal` from any page): the sign-in form, for every page in one place."""
    return _to_login(exc if isinstance(exc, LoginRequired) else None)


def _to_login(reason: LoginRequired | None = None) -> RedirectResponse:
    refused = reason is not None and reason.key_refused
    response = RedirectResponse(
        "/login?key_refused=1" if refused else "/login", status_code=status.HTTP_303_SEE_OTHER
    )
    response.delete_cookie(COOKIE, path="/")
    return response


_TITLES = {
    403: "Not allowed",
    404: "Not found",
    422: "Not a valid request",
    503: "Not available yet",
}


def _error_page(request: Request, code: int, message: str, principal: Principal | None = None):
    return templates.TemplateResponse(
        request,
        "error.html",
        {"title": _TITLES.get(code, "Something went wrong"), "message": message, "me": principal},
        status_code=code,
    )


def is_page(request: Request) -> bool:
    """Whether ``request`` is for a web page (not the API, health checks or static files)."""
    return is_page_path(request.url.path)


def is_page_path(path: str) -> bool:
    """Whether ``path`` is a web page's (not the API's, health checks' or static files')."""
    return not path.startswith(("/v1/", "/health", "/ready", "/openapi", "/static"))


def unexpected_page(error_id: str) -> Response:
    """An unexpected failure on a web page: a plain page with the error id (no request is
    needed to render it: it is built where the failure was caught)."""
    html = templates.get_template("error.html").render(
        title="Something went wrong",
        message=f"Something went wrong on our side; nothing was changed (error {error_id}).",
        me=None,
    )
    return HTMLResponse(html, status_code=500)


def invalid_request_page(request: Request, exc: RequestValidationError) -> Response:
    """A page asked for with a query value it cannot take (``?tier=xx``): an HTML page that
    says which value and why, not the API's JSON."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'][1:]) or 'request'}: {error['msg']}"
        for error in exc.errors()
    )
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "title": _TITLES[422],
            "message": f"This page cannot show that ({problems}). Use the page's own filters "
            "and links.",
            "me": None,
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def refusal_page(request: Request, exc: ServiceError) -> Response:
    """A refusal (another school's pupils, no scores yet, a bad filter…) as an HTML page, for
    the app's one handler of :class:`ServiceError`."""
    text = exc.message
    if exc.fix:
        text += f" ({exc.fix})"
    if exc.details.get("reason"):
        text += f": {exc.details['reason']}"
    principal = getattr(request.state, "principal", None)
    return _error_page(request, http_status(exc), text, principal)


def not_found_page(request: Request) -> Response:
    """An unknown URL asked for by a browser: a page that says so, not the API's JSON."""
    return _error_page(
        request,
        status.HTTP_404_NOT_FOUND,
        "There is no page at this address. Start again from your schools.",
    )


# --- formatting -------------------------------------------------------------------------------


def percent(value: float | None, digits: int = 1) -> str:
    """``0.9234`` → ``"92.3%"``; missing → an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{digits}f}%"


def change_points(value: float | None) -> str:
    """A change in attendance as signed percentage points: ``-0.052`` → ``"−5.2 pts"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    points = value * 100
    if abs(points) < 0.05:
        return "no change"
    sign = "+" if points > 0 else "−"
    return f"{sign}{abs(points):.1f} pts"


def risk_percent(value: float | None) -> str:
    """A probability as a whole percentage, never claiming certainty: ``>99%``, ``<1%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 0.995:
        return ">99%"
    if value < 0.005:
        return "<1%"
    return f"{value * 100:.0f}%"


def uk_date(value: str | dt.date | None) -> str:
    """A date the way people in England write it on a chart: ``2024-09-02`` → ``"2 Sep"``."""
    if value is None:
        return "–"
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%b}"


def record_date(value: str | dt.date | dt.datetime | None) -> str:
    """A dated record the way people in England write it: ``2024-09-02`` → ``"2 Sep 2024"``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    day = value.date() if isinstance(value, dt.datetime) else value
    return f"{day.day} {day:%b %Y}"


def signed(value: float | None, digits: int = 1) -> str:
    """A change with its sign (a true minus), and no "−0.0" for what rounds to nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "−") + text


templates.env.filters["percent"] = percent
templates.env.filters["signed"] = signed
templates.env.filters["record_date"] = record_date
templates.env.filters["uk_date"] = uk_date
templates.env.filters["risk"] = risk_percent
templates.env.filters["points"] = change_points


def line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    labels: Sequence[str],
    *,
    title: str,
    description: str,
    y_min: float = 0.0,
    y_max: float = 1.0,
    guides: Sequence[tuple[float, str]] = (),
    markers: Sequence[tuple[int, str]] = (),
    width: int = 640,
    height: int = 220,
) -> Markup:
    """An inline SVG line chart (values as fractions, drawn as percentages).

    ``series`` is ``(name, values)`` with one value per label (``None`` breaks the line);
    ``guides`` are horizontal reference lines (a threshold and its label), ``markers``
    vertical ones (at a label's index: e.g. a new model version). The ``<title>`` and
    ``<desc>`` make it an image with a text alternative; every piece of text is escaped."""
    left, right, top, bottom = 48, 24, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    span = (y_max - y_min) or 1.0

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        clipped = min(max(v, y_min), y_max)
        return top + plot_h * (1 - (clipped - y_min) / span)

    parts = [
        # No xmlns: inline SVG in HTML does not need it (and the page then names no URL).
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(description)}</desc>",
    ]
    # Axis and five gridlines, labelled in percent.
    for k in range(5):
        v = y_min + span * k / 4
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(percent(v, 0))}</text>"
        )
    step = max(1, math.ceil(n / 8))  # at most ~8 x labels, so they never overlap
    for i in range(0, n, step):
        anchor = "end" if n > 1 and i == n - 1 else "middle"  # the last label stays inside
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{height - 8}" text-anchor="{anchor}">'
            f"{escape(labels[i])}</text>"
        )
    for value, label in guides:
        parts.append(
            f'<line class="guide" x1="{left}" x2="{width - right}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}"/><text class="guide-label" x="{width - right - 4}" '
            f'y="{y(value) - 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    for index, label in markers:
        parts.append(
            f'<line class="marker" x1="{x(index):.1f}" x2="{x(index):.1f}" y1="{top}" '
            f'y2="{top + plot_h}"/><text class="marker-label" x="{x(index) + 4:.1f}" '
            f'y="{top + plot_h - 6}">{escape(label)}</text>'
        )
    for k, (name, values) in enumerate(series):
        # A gap (None) ends one polyline and starts the next.
        runs: list[list[str]] = [[]]
        for i, datum in enumerate(values):
            if datum is None or (isinstance(datum, float) and math.isnan(datum)):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(datum):.1f}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="series s{k}" points="{" ".join(run)}"/>')
            for point in run:
                px, py = point.split(",")
                parts.append(f'<circle class="series s{k}" cx="{px}" cy="{py}" r="2.5"/>')
        parts.append(
            f'<text class="legend s{k}" x="{left + 8 + 180 * k}" y="{top + 12}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def model_changes(history: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Where the model scoring a pupil changed: ``(index, "model v3")`` at each scoring made by
    another model or version than the one before (so a new model does not look like
    progress)."""
    return [
        (i, f"model v{h['model_version']}")
        for i, h in enumerate(history)
        if i > 0
        and (h["model_name"], h["model_version"])
        != (history[i - 1]["model_name"], history[i - 1]["model_version"])
    ]


# --- pages ------------------------------------------------------------------------------------


@router.get("/static/style.css")
def stylesheet() -> Response:
    """The one stylesheet (served by the app itself: the pages work offline)."""
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


_VENDORED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
"""Swagger UI's files, shipped in ``serving/static`` (see ``VENDORED.md`` there)."""


@router.get("/static/{name}")
def vendored(name: str) -> Response:
    """Swagger UI's script, stylesheet and icon, from the package itself (no CDN)."""
    if name not in _VENDORED:
        raise NotFound("no such file")
    return FileResponse(
        _HERE / "static" / name,
        media_type=_VENDORED[name],
        headers={"Cache-Control": "max-age=86400"},
    )


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The interactive API documentation (Swagger UI), served whole by the app: offline."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title}: API",
        swagger_js_url="/static/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui.css",
        swagger_favicon_url="/static/favicon.png",
        # Swagger UI would otherwise send the API description to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # Its one inline script (which starts Swagger UI) is allowed by its hash, nothing else.
    inline = bytes(page.body).decode().rsplit("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Any:
    """The form where a person pastes their API key."""
    error = KEY_REFUSED if request.query_params.get("key_refused") else None
    return templates.TemplateResponse(request, "login.html", {"title": "Sign in", "error": error})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, db: DatabaseDep, settings: SettingsDep) -> Any:
    """Check the pasted key; if valid start a session, its id in an HttpOnly, SameSite=Strict
    cookie."""
    if not _from_this_site(request):
        return templates.TemplateResponse(
            request,
            "login.html",
            {"title": "Sign in", "error": OTHER_SITE},
            status_code=status.HTTP_403_FORBIDDEN,
        )
    # A urlencoded form is parsed by hand: no multipart dependency for one field. A key is
    # ~50 characters: reading stops well past that, so a huge body is never held in memory.
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _LOGIN_BODY_LIMIT:
            return templates.TemplateResponse(
                request,
                "login.html",
                {"title": "Sign in", "error": "That is far too long to be a key."},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            )
    form = parse_qs(body.decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    session_id = None
    if key:

        def sign_in() -> str | None:
            with db.write() as session:
                principal = authenticate(session, key)
                if principal is None:
                    return None
                return start_web_session(session, principal, settings.session_hours)

        session_id = await run_in_threadpool(sign_in)
    if session_id is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "title": "Sign in",
                "error": "That key is not valid or has been revoked. Check you copied all of "
                "it (it starts with ews_), or ask your administrator for a new one.",
            },
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        # Plain http is for 127.0.0.1, or behind a proxy that ends TLS (the setting).
        secure=settings.cookie_secure or request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DatabaseDep) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    if not _from_this_site(request):
        return _error_page(request, status.HTTP_403_FORBIDDEN, OTHER_SITE)
    session_id = request.cookies.get(COOKIE)
    if session_id:
        with db.write() as session:
            end_web_session(session, session_id)
    return _to_login()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DatabaseDep) -> Any:
    """The schools this key may see."""
    principal = _principal(request, db)
    with db.read_session() as session:
        schools = [
            {**s.model_dump(mode="json"), "readable": principal.may_read_pupils(s.urn)}
            for s in schools_in_scope(session, principal)
        ]
    return templates.TemplateResponse(
        request, "schools.html", {"title": "Your schools", "me": principal, "schools": schools}
    )


def _year_groups(values: list[str] | None) -> tuple[int, ...]:
    """The year-group filter from the form (an empty choice means every year group)."""
    years = []
    for value in values or ():
        value = value.strip()
        if not value:
            continue
        if not value.isdigit() or int(value) > 13:
            raise Invalid(f"year group {value!r} is not a year group (0 for Reception, 1 to 13)")
        years.append(int(value))
    return tuple(years)


UrnPath = Annotated[int, PathParam(ge=0, le=MAX_DB_INT, description="The school's URN")]
"""A page's school: any number a URN column holds (a URN the service does not know is a page
that says so; a number past the column is a 422 page, never a database error)."""


SenChoice = Literal["N", "K", "E"]
SexChoice = Literal["F", "M"]
YesNo = Literal["", "yes", "no"]


def _yes_no(value: str) -> bool | None:
    return None if not value else value == "yes"


def _page_query(
    principal: Principal,
    year_group: list[str] | None,
    tier: list[Tier] | None,
    emerging: bool,
    offset: int,
    view: View | None,
    fsm: str,
    sen: list[SenChoice] | None,
    eal: str,
    sex: list[SexChoice] | None,
    search: str,
    sort: Sort,
    descending: bool,
) -> RiskQuery:
    """The risk list a page asks for; practitioners start on the "heading there" list."""
    if view is None:
        view = "heading" if principal.role.value == "practitioner" else "all"
    return RiskQuery(
        _year_groups(year_group), tuple(tier or ()), emerging, offset, None, view,
        _yes_no(fsm), tuple(sen or ()), _yes_no(eal), tuple(sex or ()), search.strip(), sort,
        descending,
    )  # fmt: skip


def _query_params(query: RiskQuery) -> list[tuple[str, Any]]:
    """The query as URL parameters (without offset and sort)."""
    params: list[tuple[str, Any]] = [("view", query.view)]
    params += [("year_group", g) for g in query.year_group]
    params += [("tier", t) for t in query.tier]
    if query.emerging:
        params.append(("emerging", "true"))
    if query.fsm is not None:
        params.append(("fsm", "yes" if query.fsm else "no"))
    params += [("sen", v) for v in query.sen]
    if query.eal is not None:
        params.append(("eal", "yes" if query.eal else "no"))
    params += [("sex", v) for v in query.sex]
    if query.search:
        params.append(("search", query.search))
    return params


@router.get("/schools/{urn}", response_class=HTMLResponse)
def school_page(
    request: Request,
    urn: UrnPath,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    year_group: Annotated[list[str] | None, Query()] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    emerging: Annotated[bool, Query()] = False,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
    view: Annotated[View | None, Query()] = None,
    fsm: Annotated[YesNo, Query()] = "",
    sen: Annotated[list[SenChoice] | None, Query()] = None,
    eal: Annotated[YesNo, Query()] = "",
    sex: Annotated[list[SexChoice] | None, Query()] = None,
    search: Annotated[str, Query(max_length=100)] = "",
    sort: Annotated[Sort, Query()] = "rank",
    descending: Annotated[bool, Query()] = False,
) -> Any:
    """The school's prioritised risk list: the two lists, filters, sorting and search."""
    from serving.routes.overview import get_frame_cache

    principal = _principal(request, db)
    query = _page_query(principal, year_group, tier, emerging, offset, view, fsm, sen, eal,
                        sex, search, sort, descending)  # fmt: skip
    page = risk_lists.read_page(
        db, principal, holder, request.app.state.page_cache, urn, query,
        page_size=settings.default_page_size, max_page_size=settings.max_page_size,
        frames=get_frame_cache(request), share=settings.extra_list_share,
    )  # fmt: skip
    data = json.loads(page.json)
    with db.read_session() as session:
        school = get_school(session, urn)
    filters = _query_params(query)
    ordering: list[tuple[str, str]] = [("sort", sort)] if sort != "rank" else []
    ordering += [("descending", "true")] if descending else []
    shown = len(data["pupils"])
    prev_offset = max(0, offset - data["limit"]) if offset > 0 else None
    next_offset = offset + shown if offset + shown < data["total"] else None

    def sort_url(column: str) -> str:
        flip = column == sort and not descending
        return "?" + urlencode([*filters, ("sort", column),
                                *([("descending", "true")] if flip else [])])  # fmt: skip

    return templates.TemplateResponse(
        request,
        "risk_list.html",
        {
            "title": f"Risk list: {school.name if school else urn}",
            "me": principal,
            "school": school,
            "urn": urn,
            "data": data,
            "query": query,
            "short_tier": SHORT_TIER,
            "view_urls": {v: "?" + urlencode([("view", v)]) for v in ("heading", "school", "all")},
            "sort_url": sort_url,
            "year_groups": list(range(0, 14)),
            "chosen_years": set(query.year_group),
            "chosen_tiers": set(query.tier),
            "emerging": emerging,
            "first": offset + 1 if shown else 0,
            "last": offset + shown,
            "prev_url": None
            if prev_offset is None
            else f"?{urlencode([*filters, *ordering, ('offset', prev_offset)])}",
            "next_url": None
            if next_offset is None
            else f"?{urlencode([*filters, *ordering, ('offset', next_offset)])}",
            "csv_url": f"/schools/{urn}/risk.csv?{urlencode([*filters, *ordering])}",
            "referrals": caseload.referral_statuses(db, principal, urn),
            "may_refer": principal.may_refer(urn),
        },
    )


@router.get("/schools/{urn}/risk.csv")
def school_csv(
    request: Request,
    urn: UrnPath,
    db: DatabaseDep,
    holder: HolderDep,
    settings: SettingsDep,
    year_group: Annotated[list[str] | None, Query()] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    emerging: Annotated[bool, Query()] = False,
    view: Annotated[View | None, Query()] = None,
    fsm: Annotated[YesNo, Query()] = "",
    sen: Annotated[list[SenChoice] | None, Query()] = None,
    eal: Annotated[YesNo, Query()] = "",
    sex: Annotated[list[SexChoice] | None, Query()] = None,
    search: Annotated[str, Query(max_length=100)] = "",
    sort: Annotated[Sort, Query()] = "rank",
    descending: Annotated[bool, Query()] = False,
) -> Any:
    """The risk list as CSV (the API's export, with its audit record)."""
    from serving.routes.overview import get_frame_cache

    principal = _principal(request, db)
    query = _page_query(principal, year_group, tier, emerging, 0, view or "all", fsm, sen, eal,
                        sex, search, sort, descending)  # fmt: skip
    export = risk_lists.export(
        db, principal, holder, urn, query, get_frame_cache(request), settings.extra_list_share
    )
    return Response(
        export.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/schools/{urn}/pupils/{upn}", response_class=HTMLResponse)
def pupil_page(
    request: Request,
    urn: UrnPath,
    upn: Annotated[str, PathParam(max_length=64)],
    db: DatabaseDep,
    settings: SettingsDep,
) -> Any:
    """One pupil: weekly attendance, risk over the weeks and the latest reasons."""
    principal = _principal(request, db)
    from serving import school_lists
    from serving.routes.overview import get_frame_cache

    pupil = pupils.pupil_record(db, principal, urn, upn).model_dump(mode="json")
    flags: dict[str, Any] | None = None
    counted: list[tuple[Any, int]] = []
    run = risk_lists.latest_scoring(db, urn)
    with db.read_session() as session:
        school = get_school(session, urn)
        if run is not None:
            frame = school_lists.school_flags(
                session, get_frame_cache(request), db.instance_id, run, settings.extra_list_share
            )
            flags = school_lists.as_records(frame).get(upn)
            counted = school_lists.counted_weeks(frame, upn)
    weeks = pupil["weeks"]
    attendance_chart = None
    if weeks:
        weekly = [w["attendance_rate"] for w in weeks]
        so_far = [w["attendance_ytd"] for w in weeks]
        lowest = min([v for v in weekly + so_far if v is not None] or [0.5])
        attendance_chart = line_chart(
            [("Each week", weekly), ("Year so far", so_far)],
            [uk_date(w["week_start"]) for w in weeks],
            title="Weekly attendance",
            description=(
                f"Attendance in each of {len(weeks)} school weeks and over the year so far; "
                "the dashed line is 90%, below which a pupil is persistently absent. "
                f"Latest week {percent(weekly[-1])}, year so far {percent(so_far[-1])}."
            ),
            y_min=min(0.5, math.floor(lowest * 10) / 10),
            guides=[(0.9, "90%: persistent absence below")],
        )
    history = pupil["risk_history"]
    risk_chart = None
    changes = model_changes(history)
    if history:
        risk_chart = line_chart(
            [("Risk", [h["risk"] for h in history])],
            [uk_date(h["as_of"]) for h in history],
            title="Risk over the weeks",
            description=(
                f"Estimated risk of ending the year persistently absent at {len(history)} "
                f"scorings; latest {risk_percent(history[-1]['risk'])}. Dashed lines mark the "
                "high and some-risk tiers."
                + "".join(f" {text} from {uk_date(history[i]['as_of'])}." for i, text in changes)
            ),
            markers=changes,
            guides=[
                (settings.high_risk_threshold, "high"),
                (settings.medium_risk_threshold, "some risk"),
            ],
        )
    return templates.TemplateResponse(
        request,
        "pupil.html",
        {
            "title": pupil["name"] or "Pupil",
            "me": principal,
            "school": school,
            "urn": urn,
            "pupil": pupil,
            "attendance_chart": attendance_chart,
            "risk_chart": risk_chart,
            "flags": flags,
            "counted": counted,
            "model_changes": changes,
            "may_refer": principal.may_refer(urn),
        },
    )
