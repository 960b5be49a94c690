"""Reasons from contributions: domains, plain-English text with the pupil's own values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.explain import (
    DOMAIN_KEYS,
    DOMAIN_OF_FEATURE,
    DOMAINS,
    NEVER_REASONS,
    domain_matrix,
    reasons,
)
from features.schema import (
    ALL_FEATURES,
    ATTENDANCE_FEATURES,
    CONTEXT_FEATURES,
    DESCRIPTIVE_COLUMNS,
)

FEATURES = list(ALL_FEATURES)


def pupil(**values: float) -> pd.DataFrame:
    """One pupil's snapshot row (features and descriptive columns): 0 unless given, and a
    one-day spell so far so that the spells domain has something to say."""
    row = dict.fromkeys([*FEATURES, *DESCRIPTIVE_COLUMNS], 0.0) | {"longest_spell_days_ytd": 1.0}
    row |= values
    return pd.DataFrame([row])


def contributions_for(**by_feature: float) -> np.ndarray:
    out = np.zeros((1, len(FEATURES)))
    for name, value in by_feature.items():
        out[0, FEATURES.index(name)] = value
    return out


def reason_of(domain: str, frame: pd.DataFrame) -> str | None:
    """The reason :func:`reasons` gives when ``domain`` alone pushes the risk up (``None``:
    the domain has nothing to say about these values)."""
    feature = next(d.features[0] for d in DOMAINS if d.key == domain)
    out = reasons(frame, contributions_for(**{feature: 1.0}), FEATURES)
    return out.loc[0, "reason_1"]


def test_every_attendance_feature_is_in_exactly_one_domain() -> None:
    listed = [f for d in DOMAINS for f in d.features]
    assert sorted(listed) == sorted(set(listed)), "a feature is in two domains"
    # Every feature is explained or deliberately never a reason (the time of year).
    assert set(ATTENDANCE_FEATURES) == set(listed) | {"weeks_into_year"}
    assert "weeks_into_year" in NEVER_REASONS
    assert not set(CONTEXT_FEATURES) & set(DOMAIN_OF_FEATURE)


def test_a_feature_without_a_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="without an explanation domain: \\['shoe_size'\\]"):
        domain_matrix(["absence_rate_ytd", "shoe_size"])


def test_domain_contributions_sum_their_features() -> None:
    contrib = contributions_for(
        absence_rate_4w=0.3, absence_change_4w=0.2, longest_spell_days_ytd=-0.1, fsm=2.0
    )
    # What reasons() ranks domains by: the contributions summed through the domain matrix.
    by_domain = pd.Series((contrib @ domain_matrix(FEATURES))[0], index=DOMAIN_KEYS)
    assert by_domain["recent_decline"] == pytest.approx(0.5)
    assert by_domain["spells"] == pytest.approx(-0.1)
    # Context features belong to no domain: their contribution is dropped, not moved.
    assert by_domain.sum() == pytest.approx(0.4)


def test_recent_decline_reads_like_the_design_example() -> None:
    frame = pupil(absence_rate_4w=0.18, absence_rate_ytd=0.06, weeks_since_full_attendance=1)
    out = reasons(frame, contributions_for(absence_rate_4w=0.8), FEATURES)
    assert (
        out.loc[0, "reason_1"]
        == "Absence 18% over the last 4 weeks, up from 6% for the year so far"
    )
    assert out.loc[0, "reason_1_domain"] == "recent_decline"
    assert out.loc[0, "reason_1_contribution"] == pytest.approx(0.8)
    assert out.loc[0, "reason_2"] is None


@pytest.mark.parametrize(
    ("domain", "values", "expected"),
    [
        (
            "absence_so_far",
            {"absence_rate_ytd": 0.125, "possible_sessions_ytd": 120, "illness_rate_ytd": 0.05},
            "Absence 13% so far this year (15 of 120 sessions), illness 5%",
        ),
        (
            # Just under the 10% line: never "10%" for a pupil not yet on the school's list.
            "absence_so_far",
            {"absence_rate_ytd": 14 / 144, "possible_sessions_ytd": 144},
            "Absence 9.7% so far this year (14 of 144 sessions)",
        ),
        (
            "unauthorised",
            {"unauthorised_rate_ytd": 0.04, "unresolved_sessions": 3},
            "Unauthorised absence 4% of sessions so far this year; "
            "3 sessions still without a reason",
        ),
        (
            "spells",
            {
                "spells_before_4w": 6,
                "mean_spell_days_before_4w": 1.5,
                "longest_spell_days_ytd": 3,
                "absence_weeks_share_ytd": 0.6,
                "absence_weeks_share_8w": 0.75,
            },
            "6 separate spells of absence before the last 4 weeks (1.5 days on average), the "
            "longest 3 days; absent in 60% of school weeks (75% of the last 8)",
        ),
        (
            "spells",
            {"spells_before_4w": 1, "mean_spell_days_before_4w": 1, "longest_spell_days_ytd": 1},
            "1 spell of absence before the last 4 weeks (1 day on average), the longest 1 day",
        ),
        (
            "spells",
            {"spells_before_4w": 0, "longest_spell_days_ytd": 2},
            "The longest spell of absence this year 2 days",
        ),
        (
            "day_pattern",
            {
                "monday_absence_rate": 0.3,
                "friday_absence_rate": 0.25,
                "pm_absence_rate": 0.05,
                "absence_rate_ytd": 0.08,
            },
            "Absent on 30% of Mondays and 25% of Fridays (8% of all sessions)",
        ),
        (
            "day_pattern",
            {
                "monday_absence_rate": 0.1,
                "friday_absence_rate": 0.2,
                "pm_absence_rate": 0.15,
                "absence_rate_ytd": 0.08,
            },
            "Absent on 10% of Mondays, 20% of Fridays and 15% of afternoon sessions "
            "(8% of all sessions)",
        ),
        (
            "recent_decline",
            {
                "absence_rate_2w": 0.3,
                "absence_rate_4w": 0.2,
                "absence_rate_8w": 0.1,
                "absence_rate_ytd": 0.06,
            },
            "Absence 30% over the last 2 weeks, up from 6% for the year so far",
        ),
        (
            "lateness",
            {"late_rate_ytd": 0.09, "late_after_close_rate_ytd": 0.03},
            "Late for 9% of sessions, and after the register closed for 3%",
        ),
        (
            "lateness",
            {"late_rate_ytd": 0.0, "late_after_close_rate_ytd": 0.03},
            "Arrived after the register closed for 3% of sessions",
        ),
        (
            "lateness",
            {"late_rate_ytd": 0.12, "late_after_close_rate_ytd": 0.0},
            "Late for 12% of sessions (before the register closed)",
        ),
        (
            "last_year",
            {"absence_rate_last_year": 0.14, "pa_last_year": 1, "on_roll_last_year": 1},
            "Absence 14% last year (persistently absent)",
        ),
        ("last_year", {"on_roll_last_year": 0}, "Not on roll at a school in the area last year"),
        ("last_year", {"on_roll_last_year": np.nan}, "No record of last year"),
        (
            "recent_decline",
            {"absence_rate_4w": 0.05, "absence_rate_ytd": 0.08, "weeks_since_full_attendance": 4},
            "Absence 5% over the last 4 weeks (8% for the year so far); "
            "no full week in school for 4 weeks",
        ),
    ],
)
def test_reason_text_carries_the_pupils_values(domain: str, values: dict, expected: str) -> None:
    assert reason_of(domain, pupil(**values)) == expected


@pytest.mark.parametrize(
    ("domain", "values"),
    [
        ("spells", {"spells_before_4w": 0, "longest_spell_days_ytd": 0}),
        ("day_pattern", {"monday_absence_rate": 0.0, "pm_absence_rate": 0.0}),
        ("lateness", {"late_rate_ytd": 0.0, "late_after_close_rate_ytd": 0.0}),
        ("off_site", {"aea_share_ytd": 0.0}),
        ("unauthorised", {"unauthorised_rate_ytd": 0.0, "unresolved_sessions": 0}),
        ("recent_decline", {"absence_rate_4w": np.nan, "absence_rate_2w": np.nan}),
    ],
)
def test_a_domain_with_nothing_to_say_is_no_reason(domain: str, values: dict) -> None:
    """No "0 spells", no "unknown": the next reason moves up instead."""
    assert reason_of(domain, pupil(**values)) is None
    feature = next(d.features[0] for d in DOMAINS if d.key == domain)
    contrib = contributions_for(**{feature: 0.9, "absence_rate_ytd": 0.2})
    frame = pupil(**values, absence_rate_ytd=0.1, possible_sessions_ytd=100)
    out = reasons(frame, contrib, FEATURES)
    assert out.loc[0, "reason_1_domain"] == "absence_so_far"
    assert out.loc[0, "reason_1_contribution"] == pytest.approx(0.2)
    assert out.loc[0, "reason_2"] is None


def test_top_reasons_are_the_largest_positive_domains_in_order() -> None:
    frame = pd.concat(
        [pupil(late_rate_ytd=0.1, absence_rate_last_year=0.2, on_roll_last_year=1), pupil()],
        ignore_index=True,
    )
    contrib = np.vstack(
        [
            contributions_for(
                longest_spell_days_ytd=0.2, absence_rate_last_year=0.9, late_rate_ytd=0.4
            ),
            contributions_for(longest_spell_days_ytd=-0.5, absence_rate_ytd=-1.0),
        ]
    )
    out = reasons(frame, contrib, FEATURES, top=3)
    assert list(out.loc[0, ["reason_1_domain", "reason_2_domain", "reason_3_domain"]]) == [
        "last_year",
        "lateness",
        "spells",
    ]
    # A pupil whose every domain lowers the risk has no reasons.
    assert out.loc[1, ["reason_1", "reason_2", "reason_3"]].isna().all()


def test_tiny_contributions_are_not_reasons() -> None:
    out = reasons(
        pupil(), contributions_for(late_rate_ytd=0.01, longest_spell_days_ytd=0.3), FEATURES
    )
    assert out.loc[0, "reason_1_domain"] == "spells"
    assert out.loc[0, "reason_2"] is None


def test_context_and_protected_features_are_never_reasons() -> None:
    names = [*FEATURES, "sex", "ethnicity"]
    frame = pupil(fsm=1, sen_provision=2, eal=1)
    contrib = np.zeros((1, len(names)))
    for name in ("fsm", "sen_provision", "eal", "sex", "ethnicity"):
        contrib[0, names.index(name)] = 5.0
    contrib[0, names.index("longest_spell_days_ytd")] = 0.2
    out = reasons(frame, contrib, names, top=5)
    shown = set(out.filter(like="_domain").iloc[0].dropna())
    assert shown == {"spells"}
    assert {"fsm", "sen_provision", "eal", "sex", "ethnicity"} <= NEVER_REASONS


def test_reasons_keep_the_callers_index_and_check_lengths() -> None:
    frame = pupil().set_axis([42])
    out = reasons(frame, contributions_for(longest_spell_days_ytd=0.3), FEATURES)
    assert list(out.index) == [42]
    with pytest.raises(ValueError, match="1 rows of features but 2"):
        reasons(frame, np.zeros((2, len(FEATURES))), FEATURES)


def test_domain_keys_match_domains() -> None:
    assert [d.key for d in DOMAINS] == DOMAIN_KEYS


def test_the_stage_and_the_time_of_year_are_never_reasons() -> None:
    """ "In Year 10" is not something a family conversation can change, and the weeks into the
    year are nobody's doing: however much they add, they are never a reason."""
    frame = pupil(year_group=10, weeks_into_year=30, absence_rate_ytd=0.06)
    contrib = contributions_for(
        year_group=2.0, weeks_into_year=3.0, phase_code=1.0, absence_rate_ytd=0.1
    )
    out = reasons(frame, contrib, FEATURES, top=3)
    assert list(out.filter(like="_domain").iloc[0].dropna()) == ["absence_so_far"]


@pytest.mark.parametrize(
    ("domain", "values"),
    [
        ("recent_decline", {"absence_rate_4w": 0.0, "absence_rate_2w": 0.0, "absence_rate_8w": 0}),
        ("absence_so_far", {"absence_rate_ytd": 0.0, "possible_sessions_ytd": 60}),
        ("last_year", {"absence_rate_last_year": 0.0, "on_roll_last_year": 1}),
        ("last_year", {"absence_rate_last_year": 0.004, "on_roll_last_year": 1}),
    ],
)
def test_no_reason_says_that_no_absence_raised_the_risk(domain: str, values: dict) -> None:
    assert reason_of(domain, pupil(**values)) is None


def test_a_day_of_week_is_a_reason_only_where_it_stands_above_the_pupils_rate() -> None:
    even = {
        "monday_absence_rate": 0.08,
        "friday_absence_rate": 0.08,
        "pm_absence_rate": 0.08,
        "absence_rate_ytd": 0.08,
    }
    assert reason_of("day_pattern", pupil(**even)) is None
    fridays = even | {"friday_absence_rate": 0.2}
    assert reason_of("day_pattern", pupil(**fridays)) == (
        "Absent on 20% of Fridays (8% of all sessions)"
    )
