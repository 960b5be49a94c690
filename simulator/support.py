"""Family support in the simulated authority: who is referred, when, and what it does.

Applied after the day-loop of :mod:`simulator.model`, as a post-step on the marks (the model's
calibration is left alone: with an effect of 0 the marks are unchanged).

**Referral policy** (documented in docs/simulator.md, "Simulated support"). Each school has
practitioner capacity of :attr:`SupportPolicy.cases_per_100_pupils` open cases per 100 pupils
on roll (at least one). From school week :attr:`~SupportPolicy.first_week` of each year, after
each school week's marks, free places are filled from the school's list — pupils below 90%
attendance so far this year, not yet referred that year — in the order of the school's
judgement: absence so far plus absence over the last four weeks, plus noise (a school knows
things the register does not). The referral is dated the Monday after; a practitioner accepts
it 1–7 days later; a case stays open :attr:`~SupportPolicy.case_weeks` school weeks.

**Effect.** Over the 10 school weeks from acceptance, pupil *i*'s attendance rises by
``effect × m_i`` percentage points in expectation, ``m_i ~ Gamma(2, 0.5)`` (mean 1, sd 0.71:
some families engage little, some a lot). Each absence mark in the window (any authorised or
unauthorised absence except a suspension) becomes a present mark with probability
``min(1, effect_i × possible / absent)``: a pupil cannot gain more than the sessions they
missed. The realised change, mark by mark, is the truth (``support_truth.parquet``).

**Records.** The referrals and the contacts a practitioner would write (typed, dated, each
with its author; barriers from the code list; actions agreed; a structured outcome) go to
``referrals.csv`` and ``contacts.csv``: what the service would hold, not the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.arithmetic import AEA_ID, AUTH_ID, PRESENT_ID, UNAUTH_ID
from features.calendar import academic_years_of, week_start
from features.casework import BARRIERS, CONTACT_KINDS, OUTCOMES
from features.codes import categories
from features.impact import FOLLOW_UP_WEEKS
from simulator.authority import SimulatedAuthority

SUPPORT_TRUTH_FILE = "support_truth.parquet"
"""The truth of support: per referral the effect drawn and the change it made, mark by mark.
Only evaluation (``ews impact``, benchmarks) may read it."""
REFERRALS_FILE = "referrals.csv"
CONTACTS_FILE = "contacts.csv"

CONTACT_TYPES = tuple(CONTACT_KINDS)
CONTACT_WEIGHTS = (0.30, 0.32, 0.12, 0.16, 0.05, 0.05)
BARRIER_CODES = tuple(BARRIERS)
BARRIER_WEIGHTS = (0.20, 0.14, 0.09, 0.05, 0.08, 0.12, 0.05, 0.12, 0.05, 0.04, 0.06)
# A case that was taken on never closes "declined".
CLOSE_OUTCOMES = tuple(o for o in OUTCOMES if o != "declined")
ACTIONS = (
    "morning routine plan agreed with parent",
    "referral to school nurse",
    "signposted to CAMHS",
    "housing officer contacted",
    "bus pass application",
    "weekly check-in with form tutor",
    "meeting with SENCo booked",
    "food bank and uniform grant",
    "young carers service referral",
    "bereavement counselling referral",
)
PRACTITIONERS = ("A. Okafor", "B. Lindqvist", "C. Patel", "D. Hughes", "E. Nowak", "F. Brennan")
SUSPENSION_CODE = "E"


@dataclass(frozen=True)
class SupportPolicy:
    """Who is referred and what support does (see the module docstring)."""

    effect_pts: float = 0.0
    cases_per_100_pupils: float = 1.5
    first_week: int = 5
    case_weeks: int = 12
    judgement_noise_pts: float = 5.0
    heterogeneity_shape: float = 2.0


@dataclass
class Support:
    """The referrals (service-like records), their contacts, and the truth."""

    referrals: pd.DataFrame
    contacts: pd.DataFrame
    truth: pd.DataFrame


def _weekly(marks: pd.DataFrame) -> pd.DataFrame:
    """Absent and possible sessions per enrolment and school week, with the week's index in
    its academic year."""
    cat = categories(marks["code"], marks["date"])
    absent = np.isin(cat, (AUTH_ID, UNAUTH_ID))
    counted = absent | np.isin(cat, (PRESENT_ID, AEA_ID))
    frame = pd.DataFrame(
        {
            "school_urn": marks["school_urn"].to_numpy(),
            "upn": marks["upn"].to_numpy(),
            "academic_year": academic_years_of(marks["date"]).astype(str).to_numpy(),
            "week": week_start(marks["date"]).to_numpy(),
            "absent": absent.astype(np.int16),
            "possible": counted.astype(np.int16),
        }
    )
    weekly = frame.groupby(["school_urn", "upn", "academic_year", "week"], observed=True).sum()
    weekly = weekly.reset_index()
    weekly = weekly[weekly["possible"] > 0]
    weeks = weekly[["academic_year", "week"]].drop_duplicates().sort_values("week")
    weeks["week_index"] = weeks.groupby("academic_year").cumcount()
    return weekly.merge(weeks, on=["academic_year", "week"])


def choose_referrals(
    authority: SimulatedAuthority, policy: SupportPolicy, rng: np.random.Generator
) -> pd.DataFrame:
    """The referrals the policy makes: ``school_urn, upn, academic_year, referred_on,
    accepted_on, closed_on`` (one row each, in order)."""
    weekly = _weekly(authority.marks)
    out = []
    for (year, urn), school in weekly.groupby(["academic_year", "school_urn"], observed=True):
        pupils = school["upn"].astype(str).unique()
        capacity = max(1, round(policy.cases_per_100_pupils * len(pupils) / 100))
        pupil_idx = pd.Index(pupils).get_indexer(school["upn"].astype(str))
        n_weeks = int(school["week_index"].max()) + 1
        absent = np.zeros((len(pupils), n_weeks))
        possible = np.zeros((len(pupils), n_weeks))
        absent[pupil_idx, school["week_index"]] = school["absent"]
        possible[pupil_idx, school["week_index"]] = school["possible"]
        mondays = school.drop_duplicates("week_index").set_index("week_index")["week"]
        referred = np.zeros(len(pupils), dtype=bool)
        open_until: list[int] = []  # week index each open case closes
        for w in range(policy.first_week, n_weeks - 1):
            open_until = [c for c in open_until if c > w]
            free = capacity - len(open_until)
            if free <= 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                so_far = absent[:, : w + 1].sum(1) / possible[:, : w + 1].sum(1)
                recent = absent[:, w - 3 : w + 1].sum(1) / possible[:, w - 3 : w + 1].sum(1)
            on_roll = possible[:, w] > 0
            eligible = on_roll & ~referred & (np.nan_to_num(so_far) >= 0.10)
            if not eligible.any():
                continue
            noise = rng.normal(0, policy.judgement_noise_pts / 100, len(pupils))
            judgement = np.where(eligible, so_far + np.nan_to_num(recent) + noise, -np.inf)
            chosen = np.argsort(-judgement, kind="stable")[: min(free, int(eligible.sum()))]
            referred[chosen] = True
            monday = (
                mondays.get(w + 1, mondays[w] + pd.Timedelta(days=7))
                if (w + 1) in mondays.index
                else mondays[w] + pd.Timedelta(days=7)
            )
            lag = rng.integers(1, 8, len(chosen))
            for pupil, days in zip(chosen, lag, strict=True):
                open_until.append(w + 1 + policy.case_weeks)
                closes = min(w + 1 + policy.case_weeks, n_weeks - 1)
                out.append(
                    {
                        "school_urn": int(urn),
                        "upn": str(pupils[pupil]),
                        "academic_year": year,
                        "referred_on": pd.Timestamp(monday),
                        "accepted_on": pd.Timestamp(monday) + pd.Timedelta(days=int(days)),
                        "closed_on": pd.Timestamp(mondays[closes]) + pd.Timedelta(days=4),
                        "week_index": w + 1,
                    }
                )
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    frame = frame.sort_values(["referred_on", "school_urn", "upn"]).reset_index(drop=True)
    frame.insert(0, "referral_id", np.arange(1, len(frame) + 1))
    return frame


def apply_support(
    marks: pd.DataFrame,
    referrals: pd.DataFrame,
    policy: SupportPolicy,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Marks with support's effect and the truth per referral (vectorised over the marks of
    referred pupils)."""
    n = len(referrals)
    multiplier = rng.gamma(policy.heterogeneity_shape, 1 / policy.heterogeneity_shape, n)
    effect_i = policy.effect_pts * multiplier
    truth = referrals[["referral_id", "school_urn", "upn", "referred_on", "accepted_on"]].copy()
    truth["effect_drawn_pts"] = effect_i
    if n == 0 or policy.effect_pts == 0:
        truth["effect_after_referral_pts"] = 0.0
        truth["effect_after_acceptance_pts"] = 0.0
        return marks, truth
    years = academic_years_of(marks["date"]).astype(str).to_numpy()
    weeks = week_start(marks["date"]).to_numpy()
    calendar = pd.DataFrame({"academic_year": years, "week": weeks}).drop_duplicates()
    calendar = calendar.sort_values("week")
    calendar["week_index"] = calendar.groupby("academic_year").cumcount()
    cal = calendar.set_index(["academic_year", "week"])["week_index"]
    # the two windows: 10 school weeks from the referral's week and from acceptance
    ref_week = week_start(referrals["referred_on"]).to_numpy()
    acc_week = week_start(referrals["accepted_on"]).to_numpy()
    ref_idx = cal.reindex(pd.MultiIndex.from_arrays([referrals["academic_year"], ref_week]))
    acc_idx = cal.reindex(pd.MultiIndex.from_arrays([referrals["academic_year"], acc_week]))
    refs = referrals.assign(
        ref_index=ref_idx.to_numpy(),
        acc_index=np.where(np.isnan(acc_idx.to_numpy()), ref_idx.to_numpy(), acc_idx.to_numpy()),
        effect=effect_i,
        row_of_referral=np.arange(n),
    )
    rows = np.flatnonzero(marks["upn"].isin(refs["upn"]).to_numpy())
    sub = pd.DataFrame(
        {
            "mark_row": rows,
            "school_urn": marks["school_urn"].to_numpy()[rows],
            "upn": marks["upn"].astype(str).to_numpy()[rows],
            "academic_year": years[rows],
            "date": marks["date"].to_numpy()[rows],
            "week_index": cal.reindex(pd.MultiIndex.from_arrays([years[rows], weeks[rows]]))
            .to_numpy()
            .astype(int),
        }
    )
    cat = categories(marks["code"].iloc[rows], marks["date"].iloc[rows])
    sub["absent"] = np.isin(cat, (AUTH_ID, UNAUTH_ID)) & (
        marks["code"].astype(str).to_numpy()[rows] != SUSPENSION_CODE
    )
    sub["possible"] = np.isin(cat, (PRESENT_ID, AEA_ID, AUTH_ID, UNAUTH_ID))
    sub = sub.merge(
        refs[
            ["school_urn", "upn", "academic_year", "accepted_on", "acc_index", "ref_index"]
        ].assign(referral=np.arange(n)),
        on=["school_urn", "upn", "academic_year"],
    )
    in_effect = (sub["date"] >= sub["accepted_on"]) & (
        sub["week_index"] < sub["acc_index"] + FOLLOW_UP_WEEKS
    )
    window = sub[in_effect.to_numpy()]
    per = window.groupby("referral")[["absent", "possible"]].sum()
    absent = per["absent"].reindex(range(n), fill_value=0).to_numpy(float)
    possible = per["possible"].reindex(range(n), fill_value=0).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(absent > 0, np.minimum(1.0, effect_i / 100 * possible / absent), 0.0)
    draws = rng.random(len(window)) < p[window["referral"].to_numpy()]
    flip = window["absent"].to_numpy() & draws
    flipped_rows = window["mark_row"].to_numpy()[flip]
    new = marks.copy()
    codes = new["code"].to_numpy().copy()
    sessions = new["session"].astype(str).to_numpy()[flipped_rows]
    codes[flipped_rows] = np.where(sessions == "AM", "/", "\\")
    new["code"] = pd.Categorical(codes, categories=marks["code"].cat.categories)
    flipped = window.assign(flipped=flip)
    gained_acc = flipped.groupby("referral")["flipped"].sum()
    # the estimand's window: the 10 school weeks from the referral's own week
    after_ref = sub[
        (sub["week_index"] >= sub["ref_index"])
        & (sub["week_index"] < sub["ref_index"] + FOLLOW_UP_WEEKS)
    ]
    possible_ref = after_ref.groupby("referral")["possible"].sum().reindex(range(n), fill_value=0)
    flipped_set = set(flipped_rows.tolist())
    after_ref_flipped = after_ref["mark_row"].isin(flipped_set).groupby(after_ref["referral"]).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        truth["effect_after_acceptance_pts"] = (
            100 * gained_acc.reindex(range(n), fill_value=0).to_numpy() / possible
        )
        truth["effect_after_referral_pts"] = (
            100
            * after_ref_flipped.reindex(range(n), fill_value=0).to_numpy()
            / possible_ref.to_numpy()
        )
    return new, truth


def simulated_contacts(referrals: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Typed, dated contacts with their author, about one a week from acceptance to close."""
    if referrals.empty:
        return pd.DataFrame(
            columns=["referral_id", "date", "kind", "author", "barriers", "action", "shared"]
        )
    authors = rng.choice(PRACTITIONERS, len(referrals))
    days = (referrals["closed_on"] - referrals["accepted_on"]).dt.days.clip(lower=1).to_numpy()
    counts = 1 + rng.poisson(np.maximum(1, days / 10))
    which = np.repeat(np.arange(len(referrals)), counts)
    offsets = np.floor(rng.random(len(which)) * days[which]).astype(int)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    offsets[first] = 0  # the first contact on the day of acceptance
    n = len(which)
    barrier_count = rng.integers(1, 3, n)
    barriers = [
        ";".join(sorted(set(rng.choice(BARRIER_CODES, k, p=BARRIER_WEIGHTS)))) if first_one else ""
        for k, first_one in zip(barrier_count, np.isin(np.arange(n), first), strict=True)
    ]
    contacts = pd.DataFrame(
        {
            "referral_id": referrals["referral_id"].to_numpy()[which],
            "date": referrals["accepted_on"].to_numpy()[which] + offsets.astype("timedelta64[D]"),
            "kind": rng.choice(CONTACT_TYPES, n, p=CONTACT_WEIGHTS),
            "author": authors[which],
            "barriers": barriers,
            "action": np.where(rng.random(n) < 0.6, rng.choice(ACTIONS, n), ""),
            "shared": rng.random(n) < 0.7,
        }
    )
    # practitioners work on weekdays: a Saturday or Sunday contact moves to the Monday after
    # (never before acceptance), or to the closing Friday when that comes first
    weekday = contacts["date"].dt.weekday.to_numpy()
    contacts["date"] += pd.to_timedelta(np.where(weekday >= 5, 7 - weekday, 0), unit="D")
    closes = referrals.set_index("referral_id")["closed_on"].reindex(contacts["referral_id"])
    contacts["date"] = np.minimum(contacts["date"].to_numpy(), closes.to_numpy())
    return contacts.sort_values(["referral_id", "date"]).reset_index(drop=True)


def add_support(
    authority: SimulatedAuthority, policy: SupportPolicy
) -> tuple[SimulatedAuthority, Support]:
    """The authority with support applied to its marks, and the support's records and truth."""
    rng = np.random.default_rng([authority.config.seed, 1011])
    referrals = choose_referrals(authority, policy, rng)
    if referrals.empty:
        empty = pd.DataFrame()
        return authority, Support(referrals, simulated_contacts(referrals, rng), empty)
    marks, truth = apply_support(authority.marks, referrals, policy, rng)
    contacts = simulated_contacts(referrals, rng)
    outcome_p = np.clip(0.35 + truth["effect_after_acceptance_pts"].fillna(0) / 20, 0.1, 0.9)
    referrals = referrals.assign(
        reason="attendance below 90% so far this year",
        practitioner=contacts.groupby("referral_id")["author"]
        .first()
        .reindex(referrals["referral_id"])
        .to_numpy(),
        outcome=np.where(
            rng.random(len(referrals)) < outcome_p,
            rng.choice(CLOSE_OUTCOMES[:2], len(referrals)),
            rng.choice(CLOSE_OUTCOMES[2:], len(referrals), p=[0.6, 0.3, 0.1]),
        ),
    ).drop(columns=["week_index"])
    return replace(authority, marks=marks), Support(referrals, contacts, truth)


def write_support(support: Support, out_dir: Path) -> None:
    """Records beside the authority's files; the truth in its own file (see
    :data:`SUPPORT_TRUTH_FILE`)."""
    out_dir = Path(out_dir)
    support.referrals.to_csv(out_dir / REFERRALS_FILE, index=False, date_format="%Y-%m-%d")
    support.contacts.to_csv(out_dir / CONTACTS_FILE, index=False, date_format="%Y-%m-%d")
    support.truth.to_parquet(out_dir / SUPPORT_TRUTH_FILE, index=False)


def true_effect(data_dir: Path, referral_ids: np.ndarray) -> float | None:
    """The mean true change (percentage points, 10 school weeks after referral) of the given
    referrals, from the truth file; ``None`` when the directory holds none."""
    path = Path(data_dir) / SUPPORT_TRUTH_FILE
    if not path.exists():
        return None
    truth = pd.read_parquet(path)
    if truth.empty:
        return 0.0 if len(referral_ids) == 0 else None
    chosen = truth.set_index("referral_id").reindex(referral_ids)["effect_after_referral_pts"]
    return float(chosen.mean()) if len(chosen) else None
