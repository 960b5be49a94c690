"""The practitioner's pages: My cases, Refer, the case record and the impact page.

Server-rendered like the other pages (offline, no script); forms post back to the service's
own pages only (the Origin check of :mod:`serving.routes.pages`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup, escape
from pydantic import ValidationError

from features.casework import BARRIERS, CONTACT_KINDS, OUTCOMES
from serving import caseload, impact, pupils, referrals
from serving.auth import Role
from serving.caseload import ContactIn
from serving.deps import DatabaseDep
from serving.errors import Invalid
from serving.referrals import ReferralIn, ReferralPatch
from serving.routes.pages import (
    OTHER_SITE,
    _error_page,
    _from_this_site,
    _principal,
    templates,
)
from serving.schemas import MAX_DB_INT
from serving.store.rows import get_school

router = APIRouter(include_in_schema=False)

IdPath = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


def _invalid(exc: ValidationError) -> Invalid:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return Invalid(f"the form could not be read ({problems})", fix="correct it and send again")


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, db: DatabaseDep) -> Any:
    """My cases: open referrals assigned to me, waiting ones, colleagues'."""
    principal = _principal(request, db)
    cases = caseload.my_cases(db, principal)
    return templates.TemplateResponse(
        request, "cases.html", {"title": "My cases", "me": principal, "cases": cases}
    )


@router.get("/cases/{referral_id}", response_class=HTMLResponse)
def case_page(request: Request, referral_id: IdPath, db: DatabaseDep) -> Any:
    """One case record."""
    principal = _principal(request, db)
    record = caseload.case_record(db, principal, referral_id)
    with db.read_session() as session:
        school = get_school(session, record.referral.school_urn)
    return templates.TemplateResponse(
        request,
        "case.html",
        {
            "title": f"Case: {record.name or 'pupil'}",
            "me": principal,
            "case": record,
            "school": school,
            "kinds": CONTACT_KINDS,
            "barriers": BARRIERS,
            "outcomes": OUTCOMES,
            "today": dt.date.today().isoformat(),
            "saved": request.query_params.get("saved"),
        },
    )


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: form.getlist(key) for key in form}


def _first(form: dict[str, list[Any]], key: str) -> str | None:
    values = form.get(key) or [None]
    return values[0]


@router.post("/cases/{referral_id}/contacts", response_class=HTMLResponse)
async def case_contact(request: Request, referral_id: IdPath, db: DatabaseDep) -> Any:
    """Record a contact from the case page."""
    if not _from_this_site(request):
        return _error_page(request, status.HTTP_403_FORBIDDEN, OTHER_SITE)
    principal = await run_in_threadpool(_principal, request, db)
    form = await _form(request)
    try:
        body = ContactIn(
            date=_first(form, "date"),  # type: ignore[arg-type]
            kind=_first(form, "kind"),  # type: ignore[arg-type]
            note=_first(form, "note"),
            action=_first(form, "action"),
            shared=_first(form, "shared") == "yes",
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    await run_in_threadpool(caseload.add_contact, db, principal, referral_id, body)
    return RedirectResponse(f"/cases/{referral_id}?saved=contact", status.HTTP_303_SEE_OTHER)


@router.post("/cases/{referral_id}/move", response_class=HTMLResponse)
async def case_move(request: Request, referral_id: IdPath, db: DatabaseDep) -> Any:
    """Accept and assign, record barriers, or close with an outcome."""
    if not _from_this_site(request):
        return _error_page(request, status.HTTP_403_FORBIDDEN, OTHER_SITE)
    principal = await run_in_threadpool(_principal, request, db)
    form = await _form(request)
    values: dict[str, Any] = {}
    if _first(form, "status"):
        values["status"] = _first(form, "status")
    if _first(form, "assign_to"):
        values["assign_to"] = _first(form, "assign_to")
    if "barriers_sent" in form:
        values["barriers"] = form.get("barriers", [])
    if _first(form, "outcome_code"):
        values["outcome_code"] = _first(form, "outcome_code")
    if _first(form, "outcome"):
        values["outcome"] = _first(form, "outcome")
    try:
        body = ReferralPatch(**values)
    except ValidationError as exc:
        raise _invalid(exc) from None
    await run_in_threadpool(referrals.update_referral, db, principal, referral_id, body)
    return RedirectResponse(f"/cases/{referral_id}?saved=case", status.HTTP_303_SEE_OTHER)


@router.get("/schools/{urn}/pupils/{upn}/refer", response_class=HTMLResponse)
def refer_page(
    request: Request,
    urn: Annotated[int, Path(ge=0, le=MAX_DB_INT)],
    upn: Annotated[str, Path(max_length=64)],
    db: DatabaseDep,
) -> Any:
    """Refer a pupil for family support, with a reason."""
    principal = _principal(request, db)
    if not principal.may_refer(urn):
        return _error_page(
            request,
            status.HTTP_403_FORBIDDEN,
            "A school (or its practitioner) refers pupils; this key may not.",
            principal,
        )
    record = pupils.pupil_record(db, principal, urn, upn)
    with db.read_session() as session:
        school = get_school(session, urn)
    open_ones = [r for r in record.referrals if r.status != "closed"]
    return templates.TemplateResponse(
        request,
        "refer.html",
        {
            "title": f"Refer {record.name or 'pupil'}",
            "me": principal,
            "pupil": record,
            "school": school,
            "urn": urn,
            "open_referral": open_ones[0] if open_ones else None,
        },
    )


@router.post("/schools/{urn}/pupils/{upn}/refer", response_class=HTMLResponse)
async def refer(
    request: Request,
    urn: Annotated[int, Path(ge=0, le=MAX_DB_INT)],
    upn: Annotated[str, Path(max_length=64)],
    db: DatabaseDep,
) -> Any:
    """Send the referral; then the case page."""
    if not _from_this_site(request):
        return _error_page(request, status.HTTP_403_FORBIDDEN, OTHER_SITE)
    principal = await run_in_threadpool(_principal, request, db)
    form = await _form(request)
    reason = _first(form, "reason")
    if not (reason or "").strip():
        raise Invalid("a referral needs a reason", fix="say why the family may need support")
    try:
        body = ReferralIn(school_urn=urn, upn=upn, reason=reason, note=_first(form, "note"))
    except ValidationError as exc:
        raise _invalid(exc) from None
    created = await run_in_threadpool(referrals.create_referral, db, principal, body)
    return RedirectResponse(f"/cases/{created.id}?saved=referral", status.HTTP_303_SEE_OTHER)


def bar_chart(groups: list[tuple[str, float | None, float | None]]) -> Markup:
    """Attendance before and after (percent) for each group, as an inline SVG bar chart."""
    width, height, left, top, bottom = 560, 240, 48, 16, 40
    plot_h = height - top - bottom
    lo = 40.0
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">',
        "<title>Attendance before and after referral</title>",
        "<desc>"
        + escape(
            "; ".join(
                f"{name}: {before:.1f}% before, {after:.1f}% after"
                for name, before, after in groups
                if before is not None and after is not None
            )
        )
        + "</desc>",
    ]

    def y(v: float) -> float:
        return top + plot_h * (1 - (max(min(v, 100.0), lo) - lo) / (100 - lo))

    for k in range(0, 7):
        v = lo + 10 * k
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{v:.0f}%</text>'
        )
    slot = (width - left - 16) / max(1, len(groups))
    for i, (name, before, after) in enumerate(groups):
        x0 = left + 8 + i * slot
        for j, (label, value) in enumerate((("before", before), ("after", after))):
            if value is None:
                continue
            x = x0 + 20 + j * 70
            parts.append(
                f'<rect class="bar b{j}" x="{x:.1f}" y="{y(value):.1f}" width="60" '
                f'height="{top + plot_h - y(value):.1f}"/>'
                f'<text class="axis" x="{x + 30:.1f}" y="{y(value) - 4:.1f}" '
                f'text-anchor="middle">{value:.1f}%</text>'
                f'<text class="axis" x="{x + 30:.1f}" y="{top + plot_h + 14}" '
                f'text-anchor="middle">{label}</text>'
            )
        parts.append(
            f'<text class="legend" x="{x0 + 85:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@router.get("/impact", response_class=HTMLResponse)
def impact_page(
    request: Request,
    db: DatabaseDep,
    scope: Annotated[impact.Scope | None, Query()] = None,
    school: Annotated[int | None, Query(ge=100000, le=999999)] = None,
) -> Any:
    """The impact of support, naive and adjusted, with a chart."""
    principal = _principal(request, db)
    if scope is None:
        scope = {Role.PRACTITIONER: "mine", Role.ANALYST: "authority"}.get(principal.role, "school")  # type: ignore[assignment]
    assert scope is not None
    report = impact.impact(db, principal, scope, school)
    chart = None
    if report.referrals:
        chart = bar_chart(
            [
                ("Referred pupils", report.naive.before, report.naive.after),
                (
                    "Comparison: alike, not yet referred",
                    report.comparison.before,
                    report.comparison.after,
                ),
            ]
        )
    return templates.TemplateResponse(
        request,
        "impact.html",
        {"title": "Impact of support", "me": principal, "report": report, "chart": chart},
    )
