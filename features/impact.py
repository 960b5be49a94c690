"""The impact of support, measured against what would have happened without it.

Pupils are referred because their attendance is low, and low attendance tends to recover by
itself (regression to the mean): a before/after figure overstates what support did. This
module computes both:

* the **naive** figures charities publish — attendance in the 10 school weeks after the
  referral minus attendance so far that year, the share who improved, the extra weeks in
  school — and
* the **adjusted** estimate: each referred pupil's attendance after the referral against
  pupils alike at the same week who were not (yet) referred (a "not-yet-treated" matched
  comparison), with a pupil-level bootstrap interval that refits the bias correction.

Pure pandas/NumPy on the canonical marks (:data:`features.schema.MARK_COLUMNS`) and a table
of referrals (``school_urn, upn, referred_on``). Units: percentage points of attendance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.arithmetic import AEA_ID, AUTH_ID, PRESENT_ID, UNAUTH_ID
from features.calendar import academic_years_of, week_start
from features.codes import categories

FOLLOW_UP_WEEKS = 10
"""School weeks after the referral over which attendance is compared."""
RECENT_WEEKS = 4
"""The "recent trend": attendance over the last four school weeks before the referral."""
MIN_WEEKS_BEFORE = 4
"""A referral needs this many school weeks of marks before it (else "so far" means little)."""
CONTROLS_PER_REFERRAL = 5
LOCAL_FIT_PUPILS = 30
"""The bias correction is fitted on this many nearest pupils (local, not the whole roll).
Chosen on simulated authorities apart from the validation benchmark's (docs/impact.md,
``bench_impact.py --compare-local-fit``): referred pupils are the most extreme of their school,
so the linear correction extrapolates, and the wider the fit the more it over-corrects."""
SESSIONS_PER_WEEK = 10
BOOTSTRAP_REPLICATES = 400
INTERVAL = 0.95

WEEKLY_COLUMNS = [
    "school_urn",
    "upn",
    "academic_year",
    "week",
    "week_index",
    "possible",
    "attended",
]
"""Per pupil and school week: ``week`` its Monday, ``week_index`` the school week of the year
(0 first; every school week of the authority counts, so pupils share an index), ``possible``
and ``attended`` sessions (DfE arithmetic: present and approved educational activity)."""


def weekly_attendance(marks: pd.DataFrame) -> pd.DataFrame:
    """Possible and attended sessions per pupil and school week (:data:`WEEKLY_COLUMNS`)."""
    cat = categories(marks["code"], marks["date"])
    attended = np.isin(cat, (PRESENT_ID, AEA_ID))
    possible = attended | np.isin(cat, (AUTH_ID, UNAUTH_ID))
    frame = pd.DataFrame(
        {
            "school_urn": marks["school_urn"].to_numpy(),
            "upn": marks["upn"].astype(str).to_numpy(),
            "academic_year": academic_years_of(marks["date"]).astype(str).to_numpy(),
            "week": week_start(marks["date"]).to_numpy(),
            "possible": possible.astype(np.int16),
            "attended": attended.astype(np.int16),
        }
    )
    weekly = frame.groupby(
        ["school_urn", "upn", "academic_year", "week"], sort=True, observed=True
    ).sum()
    weekly = weekly.reset_index()
    weekly = weekly[weekly["possible"] > 0]
    weeks = weekly[["academic_year", "week"]].drop_duplicates().sort_values(["week"])
    weeks["week_index"] = weeks.groupby("academic_year").cumcount()
    weekly = weekly.merge(weeks, on=["academic_year", "week"])
    return weekly[WEEKLY_COLUMNS].reset_index(drop=True)


def _pupil_weeks_wide(weekly: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Enrolment-years as rows (``school_urn, upn, academic_year``), school weeks as columns:
    possible and attended sessions (0 where absent from roll)."""
    keys = ["school_urn", "upn", "academic_year"]
    rows = weekly[keys].drop_duplicates().reset_index(drop=True)
    rows["row"] = np.arange(len(rows))
    indexed = weekly.merge(rows, on=keys)
    n_weeks = int(weekly["week_index"].max()) + 1 if len(weekly) else 0
    possible = np.zeros((len(rows), n_weeks))
    attended = np.zeros((len(rows), n_weeks))
    possible[indexed["row"], indexed["week_index"]] = indexed["possible"]
    attended[indexed["row"], indexed["week_index"]] = indexed["attended"]
    return rows, possible, attended


def _rate(attended: np.ndarray, possible: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(possible > 0, 100.0 * attended / possible, np.nan)


@dataclass(frozen=True)
class Snapshot:
    """Per enrolment-year at one school week ``w`` (after its marks): attendance so far
    (weeks 0..w), over the recent weeks, over the follow-up weeks w+1..w+10 (percent), and the
    follow-up's possible sessions."""

    so_far: np.ndarray
    recent: np.ndarray
    after: np.ndarray
    after_possible: np.ndarray
    weeks_so_far: np.ndarray


def snapshot_at(possible: np.ndarray, attended: np.ndarray, w: int) -> Snapshot:
    """The :class:`Snapshot` of every row at school week ``w``."""
    end = min(w + 1 + FOLLOW_UP_WEEKS, possible.shape[1])
    recent_from = max(0, w + 1 - RECENT_WEEKS)
    return Snapshot(
        so_far=_rate(attended[:, : w + 1].sum(1), possible[:, : w + 1].sum(1)),
        recent=_rate(
            attended[:, recent_from : w + 1].sum(1), possible[:, recent_from : w + 1].sum(1)
        ),
        after=_rate(attended[:, w + 1 : end].sum(1), possible[:, w + 1 : end].sum(1)),
        after_possible=possible[:, w + 1 : end].sum(1),
        weeks_so_far=(possible[:, : w + 1] > 0).sum(1),
    )


@dataclass(frozen=True)
class MatchedReferrals:
    """Referrals with a full follow-up, each with its matched comparison pupils.

    ``row`` indexes the enrolment-year of the referred pupil, ``controls`` (referrals ×
    :data:`CONTROLS_PER_REFERRAL`) those of its comparison pupils; ``before``/``after`` are
    attendance so far and over the follow-up (percent), for the referred (1-D) and the
    comparison pupils (2-D, aligned with ``controls``).

    The bias correction's inputs are kept so that the bootstrap can refit it: ``fit_rows``
    (referrals × :data:`LOCAL_FIT_PUPILS`, −1 where the week had fewer pupils) are the pupils
    its linear fit used, ``fit_design`` (… × 1 + measures) and ``fit_change`` their design rows
    and changes, ``design_gap`` (referrals × controls × 1 + measures) the referred pupil's
    design row minus each comparison pupil's."""

    referral: np.ndarray
    row: np.ndarray
    week_index: np.ndarray
    before: np.ndarray
    after: np.ndarray
    after_possible: np.ndarray
    controls: np.ndarray
    control_before: np.ndarray
    control_after: np.ndarray
    control_correction: np.ndarray
    n_rows: int
    fit_rows: np.ndarray
    fit_design: np.ndarray
    fit_change: np.ndarray
    design_gap: np.ndarray


def _referral_weeks(
    referrals: pd.DataFrame, rows: pd.DataFrame, weekly: pd.DataFrame
) -> pd.DataFrame:
    """Per referral: its enrolment-year row and the school week ``w`` whose marks were the last
    before it (the referral's week is w + 1 onwards)."""
    refs = referrals.copy()
    refs["referral"] = np.arange(len(refs))
    refs["upn"] = refs["upn"].astype(str)
    refs["school_urn"] = refs["school_urn"].astype(weekly["school_urn"].dtype)
    referred = pd.to_datetime(refs["referred_on"])
    refs["academic_year"] = academic_years_of(referred).astype(str).to_numpy()
    refs["referred_week"] = week_start(referred).to_numpy()
    weeks = weekly[["academic_year", "week", "week_index"]].drop_duplicates()
    weeks = weeks.sort_values("week")
    # the last school week that ended before the referral's own week
    refs = refs.sort_values("referred_week")
    prior = weeks.rename(columns={"week": "prior_week"})
    refs["prior_key"] = refs["referred_week"] - pd.Timedelta(days=1)
    refs = pd.merge_asof(
        refs,
        prior.sort_values("prior_week"),
        left_on="prior_key",
        right_on="prior_week",
        by="academic_year",
        direction="backward",
    )
    refs = refs.merge(rows, on=["school_urn", "upn", "academic_year"], how="left")
    return refs.sort_values("referral").reset_index(drop=True)


def _standardised(columns: list[np.ndarray]) -> np.ndarray:
    x = np.column_stack(columns)
    sd = np.nanstd(x, axis=0)
    return x / np.where(sd > 0, sd, 1.0)


def _no_matches(n_rows: int, local_fit: int) -> MatchedReferrals:
    empty, none = np.zeros(0), np.zeros((0, CONTROLS_PER_REFERRAL))
    return MatchedReferrals(
        empty.astype(int), empty.astype(int), empty.astype(int), empty, empty, empty,
        none.astype(int), none, none, none, n_rows,
        np.zeros((0, local_fit), int), np.zeros((0, local_fit, 0)), np.zeros((0, local_fit)),
        np.zeros((0, CONTROLS_PER_REFERRAL, 0)),
    )  # fmt: skip


def match_referrals(
    marks: pd.DataFrame,
    referrals: pd.DataFrame,
    year_groups: pd.DataFrame,
    *,
    weekly: pd.DataFrame | None = None,
    local_fit: int = LOCAL_FIT_PUPILS,
) -> MatchedReferrals:
    """Match each referral with a full follow-up to :data:`CONTROLS_PER_REFERRAL` pupils of the
    same academic year, school week and year group (``year_groups``: ``school_urn, upn,
    academic_year, year_group``) not referred at or before that week, nearest on attendance so
    far, recent attendance (the trend) and — when ``year_groups`` has ``risk`` — on risk
    (standardised Euclidean distance)."""
    weekly = weekly_attendance(marks) if weekly is None else weekly
    if weekly.empty or referrals.empty:
        return _no_matches(0, local_fit)
    rows, possible, attended = _pupil_weeks_wide(weekly)
    rows = rows.merge(year_groups, on=["school_urn", "upn", "academic_year"], how="left")
    year_group = rows["year_group"].fillna(-1).to_numpy(float)
    school = rows["school_urn"].to_numpy()
    risk = rows["risk"].to_numpy(float) if "risk" in rows else None
    refs = _referral_weeks(referrals, rows[["school_urn", "upn", "academic_year", "row"]], weekly)
    # Ever referred, per row: the first week (index) of their first referral that year.
    first_ref = np.full(len(rows), np.inf)
    known = refs.dropna(subset=["row", "week_index"])
    np.minimum.at(first_ref, known["row"].astype(int).to_numpy(), known["week_index"].to_numpy())
    n_weeks = possible.shape[1]
    out: dict[str, list] = {
        k: []
        for k in ("referral", "row", "week", "controls", "correction", "fit_rows", "fit_design",
                  "fit_change", "gap")
    }  # fmt: skip
    snaps: dict[int, Snapshot] = {}
    for ref in known.itertuples(index=False):
        w, row = int(ref.week_index), int(ref.row)
        if w + FOLLOW_UP_WEEKS >= n_weeks:
            continue
        snap = snaps.setdefault(w, snapshot_at(possible, attended, w))
        if snap.weeks_so_far[row] < MIN_WEEKS_BEFORE or possible[row, w + 1 :].sum() == 0:
            continue
        full_follow_up = (possible[:, w + 1 : w + 1 + FOLLOW_UP_WEEKS] > 0).sum(1) >= (
            FOLLOW_UP_WEEKS - 1
        )
        if not full_follow_up[row]:
            continue
        pool = (
            (first_ref > w)
            & full_follow_up
            & (snap.weeks_so_far >= MIN_WEEKS_BEFORE)
            & (school == school[row])
            & (rows["academic_year"].to_numpy() == ref.academic_year)
            & np.isfinite(snap.recent)
        )
        candidates = np.flatnonzero(pool)
        if len(candidates) < CONTROLS_PER_REFERRAL:
            continue
        features = [snap.so_far, snap.recent, year_group]
        if risk is not None and np.isfinite(risk[row]):
            features.append(np.nan_to_num(risk, nan=np.nanmean(risk)))
        x = _standardised([f[np.r_[row, candidates]] for f in features])
        distance = np.sqrt(((x[1:] - x[0]) ** 2).sum(1))
        order = np.argsort(distance, kind="stable")[:CONTROLS_PER_REFERRAL]
        nearest = candidates[order]
        # Bias correction (Abadie & Imbens 2011): what is left of the covariates' difference
        # after matching is removed by a linear fit of the change among the week's pool.
        local = np.argsort(distance, kind="stable")[:local_fit]
        design = np.column_stack([np.ones(len(x)), x])
        change = snap.after[candidates] - snap.so_far[candidates]
        beta, *_ = np.linalg.lstsq(design[1:][local], change[local], rcond=None)
        gap = design[0] - design[1:][order]
        pad = local_fit - len(local)
        out["referral"].append(ref.referral)
        out["row"].append(row)
        out["week"].append(w)
        out["controls"].append(nearest)
        out["correction"].append(gap @ beta)
        out["fit_rows"].append(np.r_[candidates[local], np.full(pad, -1)])
        out["fit_design"].append(np.pad(design[1:][local], ((0, pad), (0, 0))))
        out["fit_change"].append(np.r_[change[local], np.zeros(pad)])
        out["gap"].append(gap)
    if not out["row"]:
        return _no_matches(len(rows), local_fit)
    row_arr, week_arr = np.array(out["row"]), np.array(out["week"])
    controls = np.vstack(out["controls"])
    before = np.empty(len(row_arr))
    after = np.empty(len(row_arr))
    after_possible = np.empty(len(row_arr))
    control_before = np.empty(controls.shape)
    control_after = np.empty(controls.shape)
    for i, w in enumerate(week_arr):
        snap = snaps[int(w)]
        before[i], after[i] = snap.so_far[row_arr[i]], snap.after[row_arr[i]]
        after_possible[i] = snap.after_possible[row_arr[i]]
        control_before[i], control_after[i] = snap.so_far[controls[i]], snap.after[controls[i]]
    return MatchedReferrals(
        referral=np.array(out["referral"]),
        row=row_arr,
        week_index=week_arr,
        before=before,
        after=after,
        after_possible=after_possible,
        controls=controls,
        control_before=control_before,
        control_after=control_after,
        control_correction=np.vstack(out["correction"]),
        n_rows=len(rows),
        fit_rows=np.vstack(out["fit_rows"]),
        fit_design=_stacked(out["fit_design"]),
        fit_change=np.vstack(out["fit_change"]),
        design_gap=_stacked(out["gap"]),
    )


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays of one shape but a varying last axis (with or without risk) stacked, zero-padded
    to the widest (a zero column adds nothing to a fit or its correction)."""
    width = max(a.shape[-1] for a in arrays)
    return np.stack([np.pad(a, ((0, 0), (0, width - a.shape[-1]))) for a in arrays])


ADJUSTED_METHOD = (
    "Matched comparison ('not yet referred'): each referred pupil with 10 school weeks of "
    "follow-up is compared with the 5 pupils of the same school, in the "
    "same school week of the same academic year, who had not been referred by then and were "
    "nearest on attendance so far this year, attendance over the last 4 school weeks (the "
    "recent trend), year group{risk}. The estimate is the mean, over referred pupils, of the "
    "change in their attendance (10 weeks after minus so far) minus the mean change of their "
    "comparison pupils, corrected for what matching left of the differences by a linear fit "
    "of the change on those measures among the {local} nearest pupils not yet referred that "
    "week; the "
    "interval is a {level:.0%} percentile bootstrap ({reps} replicates) that reweights every "
    "pupil, referred or compared, so comparison pupils shared between referrals are "
    "accounted for, and refits the correction in every replicate."
)


def adjusted_estimate(
    matched: MatchedReferrals, *, seed: int = 0, replicates: int = BOOTSTRAP_REPLICATES
) -> tuple[float, float, float]:
    """Mean difference-in-changes (referred minus matched comparison) with its bootstrap
    interval (percentage points). NaN when there are no matched referrals."""
    if len(matched.row) == 0:
        return (np.nan, np.nan, np.nan)
    treated_change = matched.after - matched.before
    control_change = matched.control_after - matched.control_before + matched.control_correction
    estimate = float(np.mean(treated_change - control_change.mean(1)))
    rng = np.random.default_rng(seed)
    # Poisson(1) weights per pupil-row and replicate: a bootstrap of pupils that keeps each
    # referral's matched set, shares a comparison pupil's weight between the referrals that
    # used it, and refits the bias correction on the reweighted pupils (the correction's own
    # error is a large part of the estimate's).
    weights = rng.poisson(1.0, size=(replicates, matched.n_rows)).astype(float)
    w_treated = weights[:, matched.row]  # replicates × referrals
    w_controls = weights[:, matched.controls]  # replicates × referrals × k
    control_change = (
        matched.control_after - matched.control_before + _refitted_correction(matched, weights)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        control_mean = (w_controls * control_change).sum(2) / w_controls.sum(2)
        diff = treated_change - control_mean
        usable = w_controls.sum(2) > 0
        wt = np.where(usable, w_treated, 0.0)
        reps = (wt * np.nan_to_num(diff)).sum(1) / wt.sum(1)
    reps = reps[np.isfinite(reps)]
    alpha = (1 - INTERVAL) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return estimate, float(low), float(high)


def _refitted_correction(matched: MatchedReferrals, weights: np.ndarray) -> np.ndarray:
    """The bias correction of every replicate (replicates × referrals × k): the weighted
    least-squares fit of the change on the matching measures among each referral's local
    pupils, with that replicate's pupil weights (a tiny ridge keeps a fit whose reweighted
    pupils cannot identify every coefficient finite)."""
    fit_weights = np.where(matched.fit_rows >= 0, weights[:, matched.fit_rows], 0.0)
    x, y = matched.fit_design, matched.fit_change
    xtwx = np.einsum("brl,rlp,rlq->brpq", fit_weights, x, x)
    xtwy = np.einsum("brl,rlp,rl->brp", fit_weights, x, y)
    ridge = 1e-6 * np.eye(x.shape[-1])
    beta = np.linalg.solve(xtwx + ridge, xtwy[..., None])[..., 0]
    return np.einsum("rkp,brp->brk", matched.design_gap, beta)


@dataclass(frozen=True)
class NaiveFigures:
    """Before/after figures as published: percentage points, share and weeks per pupil."""

    estimate: float
    before: float
    after: float
    share_improved: float
    extra_weeks_in_school: float


def naive_figures(matched: MatchedReferrals) -> NaiveFigures:
    """Attendance over the 10 weeks after the referral minus attendance so far that year, the
    share of referred pupils whose attendance rose, and the extra school weeks attended per
    pupil over the follow-up (sessions gained ÷ 10)."""
    if len(matched.row) == 0:
        return NaiveFigures(np.nan, np.nan, np.nan, np.nan, np.nan)
    change = matched.after - matched.before
    extra_weeks = change / 100 * matched.after_possible / SESSIONS_PER_WEEK
    return NaiveFigures(
        estimate=float(change.mean()),
        before=float(matched.before.mean()),
        after=float(matched.after.mean()),
        share_improved=float((change > 0).mean()),
        extra_weeks_in_school=float(extra_weeks.mean()),
    )


def impact_report(
    marks: pd.DataFrame,
    referrals: pd.DataFrame,
    year_groups: pd.DataFrame,
    *,
    seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
    matched: MatchedReferrals | None = None,
) -> dict:
    """The report of ``ews impact`` and ``GET /v1/impact``: ``{"naive": {...}, "adjusted":
    {"estimate", "low", "high", "method"}, "referrals": N, "comparison": {...}}``."""
    if matched is None:
        matched = match_referrals(marks, referrals, year_groups)
    naive = naive_figures(matched)
    estimate, low, high = adjusted_estimate(matched, seed=seed, replicates=replicates)
    uses_risk = "risk" in year_groups.columns
    method = ADJUSTED_METHOD.format(
        risk=" and the model's risk" if uses_risk else "",
        level=INTERVAL,
        reps=replicates,
        local=matched.fit_rows.shape[1],
    )
    comparison_after = matched.control_after.mean(1) if len(matched.row) else np.zeros(0)
    comparison_before = matched.control_before.mean(1) if len(matched.row) else np.zeros(0)

    def r(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 2)

    return {
        "naive": {
            "estimate": r(naive.estimate),
            "before": r(naive.before),
            "after": r(naive.after),
            "share_improved": None
            if not np.isfinite(naive.share_improved)
            else round(naive.share_improved, 3),
            "extra_weeks_in_school": r(naive.extra_weeks_in_school),
        },
        "adjusted": {"estimate": r(estimate), "low": r(low), "high": r(high), "method": method},
        "referrals": int(len(matched.row)),
        "referrals_without_follow_up": int(len(referrals) - len(matched.row)),
        "comparison": {
            "pupils": int(len(np.unique(matched.controls))) if len(matched.row) else 0,
            "before": r(float(comparison_before.mean()) if len(matched.row) else np.nan),
            "after": r(float(comparison_after.mean()) if len(matched.row) else np.nan),
        },
        "weeks_after": FOLLOW_UP_WEEKS,
    }
