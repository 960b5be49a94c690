"""What the API answers, as types: every route's response model and error bodies.

The use cases (:mod:`serving.ingest`, :mod:`serving.reads`…) return these types, so the answer a
route sends, the response model it declares and what ``/openapi.json`` describes are one thing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- values the API takes ---------------------------------------------------------------------

MAX_DB_INT = 2**31 - 1
"""The largest integer both databases store in an ``Integer`` column: ids, offsets and counts
past it are refused (422) before they reach the database, which would fail on them (500)."""

URN = Annotated[int, Field(ge=100000, le=999999, description="Unique reference number (6 digits)")]
"""A school's URN as the API takes it."""
RowId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
"""The id of a stored row (a referral, a key)."""
YearGroup = Annotated[int, Field(ge=0, le=13, description="0 for Reception, 1 to 13")]
UPN = Annotated[str, Field(min_length=13, max_length=13, description="Unique pupil number")]


# --- errors -----------------------------------------------------------------------------------


class Problem(BaseModel):
    """What was wrong and how to put it right; details (a validation report, contradicting
    rows, the error id of an unexpected failure) come beside them."""

    model_config = ConfigDict(extra="allow")

    message: str
    fix: str | None = None


class ErrorBody(BaseModel):
    """The body of every refusal the service itself makes."""

    detail: Problem


class FieldError(BaseModel):
    """One request value FastAPI could not take (a query, path or body field)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """422: request values FastAPI could not take (a list of fields), or the service's own
    refusal of what it read (a file with errors, an empty file: a problem with a report)."""

    detail: list[FieldError] | Problem


# --- uploads ----------------------------------------------------------------------------------


class Issue(BaseModel):
    """One problem in a file, located as a spreadsheet shows it (the header is row 1)."""

    kind: str
    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    fix: str


class ReportCounts(BaseModel):
    """Every issue counted, including those not listed."""

    errors: int
    warnings: int
    errors_by_kind: dict[str, int]
    warnings_by_kind: dict[str, int]


class ValidationReport(BaseModel):
    """The row-level report of a file (``features.validation.ValidationReport.to_dict``)."""

    ok: bool
    files: list[str]
    errors: list[Issue]
    warnings: list[Issue]
    counts: ReportCounts
    summary: dict[str, Any]


class ScoringOutcome(BaseModel):
    """What scoring did after a change: the latest week scored (and any earlier stored weeks
    the change reached), or why nothing was scored."""

    scored: bool
    reason: str | None = None
    as_of: dt.date | None = None
    week: int | None = None
    pupils: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    weeks_rescored: list[int] | None = None


class MissingPupil(BaseModel):
    """A pupil on roll without a mark in a week (named for the school that sent the file)."""

    upn: str
    name: str


class IncompleteWeek(BaseModel):
    """A school week whose register does not cover every pupil on roll: it is not scored
    until their marks arrive (or the roster says they have left)."""

    week: int
    week_start: dt.date
    pupils_on_roll: int
    pupils_marked: int
    missing: int
    missing_pupils: list[MissingPupil] = Field(description="the first 50 of them")


class RosterUploadResult(BaseModel):
    """What a roster upload changed."""

    upload_id: int
    kind: Literal["roster"] = "roster"
    filename: str
    changed: bool
    pupils_in_file: int
    added: int
    updated: int
    unchanged: int
    not_in_this_roster_kept: int
    contradictions_accepted: int
    message: str | None = None
    scoring: ScoringOutcome | None = None
    report: ValidationReport


class RegisterUploadResult(BaseModel):
    """What a register upload changed: its marks against the stored ones, the trajectory, and
    the scoring that followed."""

    upload_id: int
    kind: Literal["registers"] = "registers"
    filename: str
    academic_year: str
    pupils: int
    sessions: int
    weeks_covered: list[dt.date] = Field(description="the Mondays of the weeks in the file")
    school_weeks_covered: list[int] = Field(default_factory=list)
    marks_new: int
    marks_changed: int
    marks_unchanged: int
    warnings: int
    changed: bool
    message: str | None = None
    trajectory: Literal["built", "appended", "rebuilt"] | None = None
    scoring: ScoringOutcome | None = None
    incomplete_weeks: list[IncompleteWeek] = Field(default_factory=list)
    display_codes_mapped: int = 0
    report: ValidationReport


class DisplayCodesUploadResult(BaseModel):
    """The school's display codes after an upload of its mapping."""

    upload_id: int
    kind: Literal["display_codes"] = "display_codes"
    filename: str
    changed: bool
    display_codes: dict[str, str]
    codes: int
    previous_codes: int
    message: str
    report: ValidationReport


class DisplayCodes(BaseModel):
    """A school's display code → statutory code mapping (``{}``: none)."""

    school_urn: int
    display_codes: dict[str, str]
    codes: int


# --- schools ----------------------------------------------------------------------------------


class SchoolIn(BaseModel):
    """A school to register with the service."""

    urn: URN
    name: str = Field(min_length=1, max_length=200)
    phase: str = Field(description="primary, secondary or special")
    la: str | None = Field(default=None, max_length=100)


class LatestScores(BaseModel):
    """A school's latest scored week."""

    as_of: dt.date
    week: int
    model_name: str
    model_version: str
    pupils: int = Field(description="pupils on roll that week (scored)")


class SchoolSummary(BaseModel):
    """A school the key may see."""

    urn: int
    name: str
    phase: str
    la: str | None
    pupils: int = Field(description="every pupil its rosters hold, earlier years' included")
    latest_scores: LatestScores | None


# --- risk lists and pupils --------------------------------------------------------------------


class Reason(BaseModel):
    """One reason pushing a pupil's risk up (from the model's TreeSHAP contributions)."""

    text: str
    domain: str | None = None
    contribution: float | None = None


class RiskRow(BaseModel):
    """A pupil in the risk list."""

    rank: int
    upn: str
    name: str
    year_group: int | None
    risk: float
    tier: str
    tier_label: str
    attendance_ytd: float | None
    attendance_change_4w: float | None
    emerging: bool
    reasons: list[Reason]
    model_name: str
    model_version: str
    as_of: dt.date
    on_school_list: bool = Field(description="below 90% so far: the school's own list")
    heading_there: bool = Field(description="on this week's extra list (not yet below 90%)")
    surfaced_week: int | None = Field(
        description="school week first on the extra list two weeks running"
    )
    surfaced_on: dt.date | None = Field(description="the scoring date of that week")
    severe: bool = Field(description="absence so far ≥ 50%")
    penalty_sessions: int = Field(
        description="unauthorised sessions (G, N, O, U) in the last 10 school weeks"
    )
    penalty_reached: bool = Field(
        description="≥ 10 of them: where the guidance asks for support first"
    )


class RiskList(BaseModel):
    """A school's pupils ranked by risk of ending the year persistently absent."""

    school_urn: int
    academic_year: str
    week: int
    as_of: dt.date
    model_name: str
    model_version: str
    total: int
    offset: int
    limit: int
    tiers: dict[str, str]
    pupils: list[RiskRow]


class PupilWeek(BaseModel):
    """A pupil's school week."""

    week: int
    week_start: dt.date
    possible_sessions: int
    absence: int
    authorised: int
    unauthorised: int
    late_before_close: int
    attendance_rate: float | None
    attendance_ytd: float | None


class RiskPoint(BaseModel):
    """A pupil's risk as one scoring of the school stored it."""

    as_of: dt.date
    week: int
    risk: float
    tier: str
    rank: int
    model_name: str
    model_version: str


class LatestRisk(BaseModel):
    """A pupil's latest risk, with its reasons."""

    as_of: dt.date
    risk: float
    tier: str
    tier_label: str
    reasons: list[Reason]
    model_name: str
    model_version: str


class PupilReferralRef(BaseModel):
    """A referral of the pupil (the referrals API has the whole record)."""

    id: int
    status: str
    created_at: dt.datetime


class PupilRecord(BaseModel):
    """A pupil's weekly attendance, risk over the weeks and latest reasons."""

    upn: str
    school_urn: int
    name: str
    year_group: int | None
    academic_year: str | None
    weeks: list[PupilWeek]
    risk_history: list[RiskPoint]
    latest: LatestRisk | None
    referrals: list[PupilReferralRef]


# --- stateless scoring and the model ----------------------------------------------------------


class ScoredPupil(BaseModel):
    """A pupil scored from the marks sent (nothing stored)."""

    rank: int
    upn: str
    risk: float
    tier: str
    attendance_ytd: float | None
    attendance_change_4w: float | None
    emerging: bool
    reasons: list[Reason]
    model_name: str
    model_version: str
    as_of: dt.date


class StatelessScores(BaseModel):
    """The scores of the pupils in a request's register (stored nowhere)."""

    school_urn: int
    as_of: dt.date
    week: int
    model_name: str
    model_version: str
    history: str
    display_codes_mapped: int
    tiers: dict[str, str]
    pupils: list[ScoredPupil]


class Fairness(BaseModel):
    """The fairness audit of the model (training's gates)."""

    bounds: Any = None
    metrics: Any = None
    breaches: Any = None
    flagged_ratios: Any = None


class ModelDescription(BaseModel):
    """The champion: what it is, what it was trained on and how it did on the test year."""

    name: str
    version: str
    loaded_at: dt.datetime
    description: str | None = None
    feature_set: str | None = None
    feature_schema_version: str | None = None
    registered_model: str | None = None
    test_year: str | None = None
    training_window: Any = None
    metrics_beside_baselines: dict[str, Any]
    median_lead_weeks: Any = None
    fairness: Fairness
    metrics: dict[str, float]
    tags: dict[str, str]
    run_id: str | None = None


# --- referrals --------------------------------------------------------------------------------


class ReferralOut(BaseModel):
    """A referral, with the model's risk when the pupil was referred."""

    id: int
    school_urn: int
    upn: str
    status: str
    note: str | None
    outcome: str | None
    risk_at_referral: float | None
    as_of_at_referral: dt.date | None
    model_name_at_referral: str | None
    model_version_at_referral: str | None
    reasons_at_referral: list[Reason] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    reason: str | None = None
    barriers: list[str] | None = None
    outcome_code: str | None = None
    practitioner_key_id: int | None = None


class ReferralMoved(BaseModel):
    """What an admin key is told after moving a referral on: no pupil-level data."""

    id: int
    school_urn: int
    status: str
    updated_at: dt.datetime
    closed_at: dt.datetime | None


class CaseloadItem(ReferralOut):
    """A referral in a caseload, with the pupil's name and current risk."""

    name: str
    current_risk: float | None
    current_tier: str | None
    current_reasons: list[Reason] | None
    current_model_version: str | None


class Caseload(BaseModel):
    """Referrals within the key's schools, highest current risk first."""

    referrals: list[CaseloadItem]
    impact_note: str


# --- keys and the system ----------------------------------------------------------------------


class CreatedKeyOut(BaseModel):
    """A key just created: the only answer that holds the secret."""

    id: int
    name: str
    role: str
    schools: list[int]
    key: str


class KeyOut(BaseModel):
    """A key as listed (never the secret)."""

    id: int
    name: str
    prefix: str
    role: str
    schools: list[int]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class Revoked(BaseModel):
    """A key revoked."""

    id: int
    revoked: bool


class Health(BaseModel):
    """The process is alive."""

    status: Literal["ok"]


class Check(BaseModel):
    """One readiness check."""

    ok: bool
    reason: str | None = None
    name: str | None = None
    version: str | None = None


class Readiness(BaseModel):
    """Whether the service can score: the database answers and a model is loaded."""

    ready: bool
    database: Check
    model: Check


# --- OpenAPI ----------------------------------------------------------------------------------

_ERROR_WORDING = {
    400: "The request body could not be parsed (JSON that is not JSON, a broken form).",
    401: "No API key, or one that is unknown or revoked.",
    403: "The key may not do this (another school's data, another role's action).",
    404: "No such school, pupil, referral or key within what the key may see.",
    409: "The request contradicts what is stored; nothing was changed.",
    413: "The file is larger than the upload limit; nothing was stored.",
    415: "The file is not CSV; nothing was stored.",
    422: "A value the service cannot take, or a file with errors (the report says where).",
    503: "The database is briefly unavailable, or no model is loaded; retry later.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers with these refusals (each with its body)."""
    return {
        code: {
            "model": InvalidRequest if code == 422 else ErrorBody,
            "description": _ERROR_WORDING[code],
        }
        for code in codes
    }


def file_body(*fields: str, required: tuple[str, ...] = ("file",)) -> dict[str, Any]:
    """The ``openapi_extra`` describing an uploaded CSV: form fields (``multipart/form-data``)
    or, for a single file, the raw body (``text/csv``, name in ``?filename=``)."""
    properties = {name: {"type": "string", "format": "binary"} for name in fields}
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": properties, "required": list(required)}
        }
    }
    if fields == ("file",):
        content["text/csv"] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}
