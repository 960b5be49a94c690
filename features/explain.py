"""Reasons: TreeSHAP contributions turned into a few plain-English statements (MODELLING.md §6).

Features are grouped into **domains** a practitioner recognises (recent decline, absence so
far, spells, unauthorised absence, day-of-week pattern, lateness, approved off-site education,
last year, stage). A domain's contribution is the sum of its features' contributions to the
raw score (log-odds). The reasons for a pupil are the domains pushing their risk *up* most,
each written with the pupil's own values, e.g. "Absence 18% over the last 4 weeks, up from 6%
for the year so far".

Context features (FSM, SEN provision, EAL) and protected characteristics (sex, ethnicity) are
never reasons: they belong to no domain, so their contributions are dropped here, not moved
elsewhere. Reasons are for a conversation with the family, not a verdict.

Everything is vectorised over pupils: text is built per domain for all the pupils whose top
reasons include that domain, with NumPy string operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.lists import SCHOOL_LIST_THRESHOLD
from features.schema import CONTEXT_FEATURES, PROTECTED_COLUMNS


@dataclass(frozen=True)
class Domain:
    """A group of features explained together."""

    key: str
    label: str
    features: tuple[str, ...]


DOMAINS: tuple[Domain, ...] = (
    Domain(
        "recent_decline",
        "Recent decline",
        (
            "absence_rate_2w",
            "absence_rate_4w",
            "absence_rate_8w",
            "absence_change_2w",
            "absence_change_4w",
            "absence_change_8w",
            "absence_slope_8w",
            "weeks_since_full_attendance",
        ),
    ),
    Domain(
        "absence_so_far",
        "Absence so far this year",
        ("absence_rate_ytd", "authorised_rate_ytd", "illness_rate_ytd"),
    ),
    Domain(
        "unauthorised", "Unauthorised absence", ("unauthorised_rate_ytd", "unresolved_sessions")
    ),
    Domain(
        "spells",
        "Spells of absence",
        (
            "longest_spell_days_ytd",
            "spells_before_4w",
            "mean_spell_days_before_4w",
            "absence_weeks_share_ytd",
            "absence_weeks_share_8w",
        ),
    ),
    Domain(
        "day_pattern",
        "Day-of-week pattern",
        ("monday_absence_rate", "friday_absence_rate", "pm_absence_rate"),
    ),
    Domain("lateness", "Lateness", ("late_rate_ytd", "late_after_close_rate_ytd")),
    Domain("off_site", "Approved off-site education", ("aea_share_ytd",)),
    Domain(
        "last_year",
        "Last year",
        ("absence_rate_last_year", "pa_last_year", "on_roll_last_year"),
    ),
    Domain(
        "stage", "Stage", ("year_group", "phase_code", "new_to_school", "possible_sessions_ytd")
    ),
)
DOMAIN_KEYS = [d.key for d in DOMAINS]
DOMAIN_OF_FEATURE = {f: d.key for d in DOMAINS for f in d.features}

NEVER_REASONS = frozenset(CONTEXT_FEATURES) | PROTECTED_COLUMNS | {"weeks_into_year"}
"""Features whose contributions are never shown as reasons: who a pupil is, not what they did
(context, protected characteristics), and the time of year, which is nobody's doing."""
NOT_REASON_DOMAINS = frozenset({"stage"})
"""Domains explained to the model but never offered as a reason: a year group or a phase is
not something a family conversation can change ("In Year 10" is not a reason)."""


def domain_matrix(feature_names: Sequence[str]) -> np.ndarray:
    """Membership matrix (features × domains) of 0/1; rows of :data:`NEVER_REASONS` are zero.

    Raises ``ValueError`` for a feature in no domain, so a new feature cannot silently vanish
    from explanations.
    """
    unknown = [f for f in feature_names if f not in DOMAIN_OF_FEATURE and f not in NEVER_REASONS]
    if unknown:
        raise ValueError(
            f"features without an explanation domain: {unknown}; add them to "
            "features.explain.DOMAINS (or NEVER_REASONS)"
        )
    matrix = np.zeros((len(feature_names), len(DOMAINS)))
    for i, feature in enumerate(feature_names):
        if feature in DOMAIN_OF_FEATURE:
            matrix[i, DOMAIN_KEYS.index(DOMAIN_OF_FEATURE[feature])] = 1.0
    return matrix


# --- text -------------------------------------------------------------------------------------

_Get = Callable[[str], np.ndarray]


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0], dtype=str)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part, dtype=str))
    return out


def _int(values: np.ndarray) -> np.ndarray:
    # Half up, as people round (np.rint would make 12.5% read "12%").
    return np.floor(np.nan_to_num(values) + 0.5).astype(np.int64).astype(str)


def _pct(values: np.ndarray) -> np.ndarray:
    """0.183 → "18%" (NaN → "unknown"); just under the persistent-absence line with one
    decimal, rounded down (0.097 → "9.7%"), so that a rate below 10% never reads as 10%."""
    values = np.asarray(values, dtype=float)
    # Within half a point below the line, a whole percentage would round up onto it.
    under = (values >= SCHOOL_LIST_THRESHOLD - 0.005) & (values < SCHOOL_LIST_THRESHOLD)
    tenths = np.char.mod("%.1f", np.floor(np.nan_to_num(values) * 1000) / 10)
    text = np.where(under, _cat(tenths, "%"), _cat(_int(values * 100), "%"))
    return np.where(np.isnan(values), "unknown", text)


def _days(values: np.ndarray) -> np.ndarray:
    """2.0 → "2 days", 1.5 → "1.5 days", 1 → "1 day"."""
    v = np.nan_to_num(values)
    whole = np.isclose(v, np.rint(v))
    number = np.where(whole, _int(v), np.round(v, 1).astype(str))
    return _cat(number, np.where(np.isclose(v, 1.0), " day", " days"))


def _plural(count: np.ndarray, singular: str, plural: str) -> np.ndarray:
    return _cat(_int(count), np.where(np.isclose(np.nan_to_num(count), 1.0), singular, plural))


def _only(keep: np.ndarray, text: np.ndarray) -> np.ndarray:
    """``text`` where ``keep``, else ``None`` (object array): a reason with nothing to say."""
    out = np.asarray(text, dtype=object).copy()
    out[~np.asarray(keep, dtype=bool)] = None
    return out


def _shown(values: np.ndarray) -> np.ndarray:
    """Values as whole percentages, the way the text shows them (NaN → -1)."""
    return np.where(np.isnan(values), -1, np.floor(np.nan_to_num(values) * 100 + 0.5))


def _join_list(parts: list[np.ndarray]) -> np.ndarray:
    """Join the non-empty strings of each row as a list: "a", "a and b", "a, b and c"."""
    out = np.asarray(parts[0], dtype=str)
    for i, part in enumerate(parts[1:], start=1):
        later = np.zeros(len(out), dtype=bool)
        for rest in parts[i + 1 :]:
            later |= np.strings.str_len(rest) > 0
        both = (np.strings.str_len(out) > 0) & (np.strings.str_len(part) > 0)
        out = _cat(out, np.where(both, np.where(later, ", ", " and "), ""), part)
    return out


def _recent_decline(get: _Get) -> np.ndarray:
    ytd, since = get("absence_rate_ytd"), get("weeks_since_full_attendance")
    # The window that rose most above the year so far (the 4-week one when none did).
    windows = np.stack([get(f"absence_rate_{k}w") for k in (2, 4, 8)], axis=1)
    rise = np.where(np.isnan(windows), -np.inf, windows - np.nan_to_num(ytd)[:, None])
    pick = np.where(np.max(rise, axis=1) > 0, np.argmax(rise, axis=1), 1)
    rate = np.take_along_axis(windows, pick[:, None], axis=1)[:, 0]
    span = np.array(["2 weeks", "4 weeks", "8 weeks"])[pick]
    up = _shown(rate) > _shown(ytd)
    text = np.where(
        up,
        _cat("Absence ", _pct(rate), " over the last ", span, ", up from ", _pct(ytd)),
        _cat("Absence ", _pct(rate), " over the last ", span, " (", _pct(ytd)),
    )
    text = _cat(text, np.where(up, " for the year so far", " for the year so far)"))
    no_full = np.nan_to_num(since) >= 3
    text = np.where(
        no_full, _cat(text, "; no full week in school for ", _int(since), " weeks"), text
    )
    # A rate shown as 0% never raised anyone's risk.
    return _only(~(np.isnan(rate) | np.isnan(ytd)) & (_shown(rate) > 0), text)


def _absence_so_far(get: _Get) -> np.ndarray:
    ytd, possible, illness = (
        get("absence_rate_ytd"),
        get("possible_sessions_ytd"),
        get("illness_rate_ytd"),
    )
    text = _cat(
        "Absence ",
        _pct(ytd),
        " so far this year (",
        _int(ytd * possible),
        " of ",
        _int(possible),
        " sessions)",
    )
    text = np.where(_shown(illness) > 0, _cat(text, ", illness ", _pct(illness)), text)
    return _only(~np.isnan(ytd) & (_shown(ytd) > 0), text)


def _unauthorised(get: _Get) -> np.ndarray:
    rate, unresolved = get("unauthorised_rate_ytd"), get("unresolved_sessions")
    text = _cat("Unauthorised absence ", _pct(rate), " of sessions so far this year")
    text = np.where(
        np.nan_to_num(unresolved) > 0,
        _cat(text, "; ", _plural(unresolved, " session", " sessions"), " still without a reason"),
        text,
    )
    return _only((_shown(rate) > 0) | (np.nan_to_num(unresolved) > 0), text)


def _spells(get: _Get) -> np.ndarray:
    # What the model reads: spells up to 4 weeks ago (the recent weeks enter through the
    # rates), their mean length, the longest spell, the share of weeks with any absence.
    before, mean, longest, weeks, weeks_8 = (
        get("spells_before_4w"),
        get("mean_spell_days_before_4w"),
        get("longest_spell_days_ytd"),
        get("absence_weeks_share_ytd"),
        get("absence_weeks_share_8w"),
    )
    counted = np.nan_to_num(before) > 0
    text = np.where(
        counted,
        _cat(
            _plural(before, " spell", " separate spells"),
            " of absence before the last 4 weeks (",
            _days(mean),
            " on average), the longest ",
            _days(longest),
        ),
        _cat("The longest spell of absence this year ", _days(longest)),
    )
    text = np.where(
        _shown(weeks) > 0,
        _cat(
            text,
            "; absent in ",
            _pct(weeks),
            " of school weeks (",
            _pct(weeks_8),
            " of the last 8)",
        ),
        text,
    )
    return _only(counted | (np.nan_to_num(longest) > 0), text)


def _day_pattern(get: _Get) -> np.ndarray:
    monday, friday, pm, overall = (
        get("monday_absence_rate"),
        get("friday_absence_rate"),
        get("pm_absence_rate"),
        get("absence_rate_ytd"),
    )
    # Name only the kinds of session missed more often than sessions overall: a pattern is a
    # day standing out, not absence spread evenly over the week.
    above = np.stack([_shown(v) > _shown(overall) for v in (monday, friday, pm)], axis=1)
    parts = [
        np.where(above[:, 0], _cat(_pct(monday), " of Mondays"), ""),
        np.where(above[:, 1], _cat(_pct(friday), " of Fridays"), ""),
        np.where(above[:, 2], _cat(_pct(pm), " of afternoon sessions"), ""),
    ]
    listed = _join_list(parts)
    text = _cat("Absent on ", listed, " (", _pct(overall), " of all sessions)")
    return _only(np.asarray(above.any(axis=1)) & ~np.isnan(overall), text)


def _lateness(get: _Get) -> np.ndarray:
    late, after = get("late_rate_ytd"), get("late_after_close_rate_ytd")
    before_text = _cat("Late for ", _pct(late), " of sessions (before the register closed)")
    after_text = _cat("Arrived after the register closed for ", _pct(after), " of sessions")
    both_text = _cat(
        "Late for ", _pct(late), " of sessions, and after the register closed for ", _pct(after)
    )
    shown_late = np.floor(np.nan_to_num(late) * 100 + 0.5) > 0
    shown_after = np.floor(np.nan_to_num(after) * 100 + 0.5) > 0
    text = np.where(
        shown_late & shown_after, both_text, np.where(shown_after, after_text, before_text)
    )
    return _only(shown_late | shown_after, text)


def _off_site(get: _Get) -> np.ndarray:
    aea = get("aea_share_ytd")
    text = _cat("Approved off-site education for ", _pct(aea), " of sessions")
    return _only(_shown(aea) > 0, text)


def _last_year(get: _Get) -> np.ndarray:
    rate, pa, on_roll = get("absence_rate_last_year"), get("pa_last_year"), get("on_roll_last_year")
    known = _cat("Absence ", _pct(rate), " last year")
    known = np.where(pa == 1, _cat(known, " (persistently absent)"), known)
    text = np.where(on_roll == 0, "Not on roll at a school in the area last year", known)
    text = np.where(
        np.isnan(on_roll) | ((on_roll == 1) & np.isnan(rate)), "No record of last year", text
    )
    no_absence = (on_roll == 1) & (_shown(rate) == 0)  # "0% last year" raised nobody's risk
    return _only(~no_absence, text)


_TEXT: dict[str, Callable[[_Get], np.ndarray]] = {
    "recent_decline": _recent_decline,
    "absence_so_far": _absence_so_far,
    "unauthorised": _unauthorised,
    "spells": _spells,
    "day_pattern": _day_pattern,
    "lateness": _lateness,
    "off_site": _off_site,
    "last_year": _last_year,
}


def _getter(frame: pd.DataFrame, rows: np.ndarray | None = None) -> _Get:
    """Column reader for the text builders: float64 values (of ``rows``), NaN if absent."""
    cache: dict[str, np.ndarray] = {}

    def get(column: str) -> np.ndarray:
        if column not in cache:
            if column in frame.columns:
                values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                values = np.full(len(frame), np.nan)
            cache[column] = values
        values = cache[column]
        return values if rows is None else values[rows]

    return get


MIN_CONTRIBUTION = 0.05
"""Smallest domain contribution (log-odds; 0.05 ≈ odds × 1.05) shown as a reason: below it a
domain barely moved the score, and naming it would mislead."""


def reasons(
    frame: pd.DataFrame,
    contributions: np.ndarray,
    feature_names: Sequence[str],
    top: int = 3,
    *,
    min_contribution: float = MIN_CONTRIBUTION,
) -> pd.DataFrame:
    """The ``top`` domains pushing each row's risk up, as text with the pupil's values.

    ``contributions`` is rows × features (log-odds, without the base value), in the order of
    ``feature_names``; ``frame`` holds the same rows' feature values. Returns, indexed like
    ``frame``, columns ``reason_i``, ``reason_i_domain``, ``reason_i_contribution`` for
    i = 1..top, strongest first; only domains adding at least ``min_contribution`` to the
    log-odds become reasons (the rest are ``None``/NaN).
    """
    if len(frame) != len(contributions):
        raise ValueError(f"{len(frame)} rows of features but {len(contributions)} of contributions")
    by_domain = np.asarray(contributions, dtype=float) @ domain_matrix(feature_names)
    offered = np.array([key not in NOT_REASON_DOMAINS for key in DOMAIN_KEYS])
    by_domain = np.where(offered[None, :], by_domain, -np.inf)
    n = len(frame)
    top = min(top, len(DOMAINS))
    order = np.argsort(-by_domain, axis=1, kind="stable")[:, :top]
    values = np.take_along_axis(by_domain, order, axis=1)
    valid = (values > 0) & (values >= min_contribution)

    texts = np.full((n, top), None, dtype=object)
    domains = np.full((n, top), None, dtype=object)
    shared: dict[str, np.ndarray] = {}  # each column converted once, whatever the domain
    for d, key in enumerate(DOMAIN_KEYS):
        rows, ranks = np.nonzero((order == d) & valid)
        if len(rows) == 0 or key in NOT_REASON_DOMAINS:
            continue

        def get(column: str, rows: np.ndarray = rows) -> np.ndarray:
            if column not in shared:
                shared[column] = _getter(frame)(column)
            return shared[column][rows]

        texts[rows, ranks] = _TEXT[key](get).astype(object)
        domains[rows, ranks] = key

    # A domain whose values say nothing a person could act on (e.g. no spells at all) is not a
    # reason, whatever its contribution: drop it and move the next reasons up.
    valid &= texts.astype(bool)
    pack = np.argsort(~valid, axis=1, kind="stable")
    texts = np.take_along_axis(texts, pack, axis=1)
    domains = np.take_along_axis(domains, pack, axis=1)
    values = np.take_along_axis(values, pack, axis=1)
    valid = np.take_along_axis(valid, pack, axis=1)
    texts[~valid] = None
    domains[~valid] = None

    columns: dict[str, np.ndarray] = {}
    for i in range(top):
        columns[f"reason_{i + 1}"] = texts[:, i]
        columns[f"reason_{i + 1}_domain"] = domains[:, i]
        columns[f"reason_{i + 1}_contribution"] = np.where(valid[:, i], values[:, i], np.nan)
    return pd.DataFrame(columns, index=frame.index)


__all__ = [
    "DOMAINS",
    "DOMAIN_KEYS",
    "DOMAIN_OF_FEATURE",
    "MIN_CONTRIBUTION",
    "NEVER_REASONS",
    "NOT_REASON_DOMAINS",
    "Domain",
    "domain_matrix",
    "reasons",
]
