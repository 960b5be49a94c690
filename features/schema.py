"""Column names and dtypes of every table the pipeline passes around, in one place.

Tables:

* **marks** — canonical register marks, one row per pupil-session: ``school_urn, upn, date,
  session, code`` (statutory codes; see :mod:`features.codes`).
* **roster** — the school census characteristics of pupils on roll.
* **pupils** — the simulator's roster over years: ``academic_year`` plus the roster columns.
* **schools** — ``school_urn, name, phase, la``.
* **trajectory** — per pupil, per school week counters (see :mod:`features.trajectory`).
* **snapshots** — per pupil, per as-of school week features and labels
  (see :mod:`features.snapshots`).

Feature sets (MODELLING.md §2): ``attendance`` (trajectory + history + stage, the default) and
``attendance+context`` (adds FSM, SEN provision, EAL). Sex and ethnicity are never features;
they are kept apart as audit columns for the fairness audit.
"""

from __future__ import annotations

FEATURE_SCHEMA_VERSION = "2"
"""Bump when a feature's name, meaning or unit changes: models record the version they used."""

# --- marks ------------------------------------------------------------------------------------

MARK_COLUMNS = ["school_urn", "upn", "date", "session", "code"]
SESSIONS = ("AM", "PM")

# --- roster / pupils / schools ----------------------------------------------------------------

ROSTER_COLUMNS = [
    "upn",
    "forename",
    "surname",
    "date_of_birth",
    "sex",
    "year_group",
    "fsm",
    "sen",
    "eal",
    "ethnicity",
    "entry_date",
    "leaving_date",
]
PUPIL_COLUMNS = ["academic_year", "school_urn", *ROSTER_COLUMNS]
SCHOOL_COLUMNS = ["school_urn", "name", "phase", "la"]

PHASES = ("primary", "secondary", "special")
PHASE_CODE = {"primary": 0, "secondary": 1, "special": 2}
SEN_CODES = ("N", "K", "E")  # census: no SEN, SEN support, EHC plan
SEN_PROVISION_CODE = {"N": 0, "K": 1, "E": 2}
SEXES = ("F", "M")

# --- snapshots --------------------------------------------------------------------------------

KEY_COLUMNS = ["academic_year", "school_urn", "upn", "as_of", "week"]
LABEL_COLUMNS = ["pa_year_end", "severe_year_end"]

YTD_FEATURES = [
    "possible_sessions_ytd",
    "absence_rate_ytd",
    "authorised_rate_ytd",
    "unauthorised_rate_ytd",
    "illness_rate_ytd",
    "late_rate_ytd",  # L: late before the register closed, per possible session
    "late_after_close_rate_ytd",  # U: arrived after the register closed
    "aea_share_ytd",  # approved educational activity, per possible session
]
RECENT_FEATURES = [
    "absence_rate_2w",
    "absence_rate_4w",
    "absence_rate_8w",
    "absence_change_2w",  # rate over the window minus the pupil's own year-to-date rate
    "absence_change_4w",
    "absence_change_8w",
]
TREND_FEATURES = [
    "absence_slope_8w",  # least-squares slope of the weekly absence rate, per school week
    "weeks_since_full_attendance",
]
SPELL_FEATURES = [
    "longest_spell_days_ytd",
    # Spell counts change in either direction when absence is added (two spells can merge), so
    # the model reads them only up to 4 weeks before the as-of week: recent weeks enter through
    # the rates, and more recent absence can never lower a score (see RISES_WITH_ABSENCE).
    "spells_before_4w",
    "mean_spell_days_before_4w",
]
PATTERN_FEATURES = [
    # Rates per possible session of that kind (not shares of absence, which fall when other
    # absence is added): absent on x% of Mondays, of Fridays, of afternoons.
    "monday_absence_rate",
    "friday_absence_rate",
    "pm_absence_rate",
    "absence_weeks_share_ytd",  # school weeks with any absence, of weeks on roll so far
    "absence_weeks_share_8w",
    "unresolved_sessions",  # N marks still unresolved
]
HISTORY_FEATURES = [
    "absence_rate_last_year",
    "pa_last_year",
    "on_roll_last_year",
]
STAGE_FEATURES = [
    "year_group",
    "phase_code",
    "weeks_into_year",
    "new_to_school",
]
CONTEXT_FEATURES = ["fsm", "sen_provision", "eal"]

ATTENDANCE_FEATURES = [
    *YTD_FEATURES,
    *RECENT_FEATURES,
    *TREND_FEATURES,
    *SPELL_FEATURES,
    *PATTERN_FEATURES,
    *HISTORY_FEATURES,
    *STAGE_FEATURES,
]
FEATURE_SETS: dict[str, list[str]] = {
    "attendance": ATTENDANCE_FEATURES,
    "attendance+context": [*ATTENDANCE_FEATURES, *CONTEXT_FEATURES],
}
DEFAULT_FEATURE_SET = "attendance+context"
"""The registered feature set: attendance plus FSM, SEN provision and EAL, so that the
probability is calibrated within those groups (docs/modelling.md). Sex and ethnicity never."""

ALL_FEATURES = FEATURE_SETS["attendance+context"]

DESCRIPTIVE_COLUMNS = [
    "spells_ytd",
    "mean_spell_days_ytd",
    "spells_4w",
    "monday_absence_share",
    "friday_absence_share",
    "pm_absence_share",
    "unauthorised_share",
]
"""MODELLING.md §2 measures written with the snapshots and used in reasons and baselines, but not
model inputs: each can fall when a pupil misses more sessions (a share of absence, a spell count
when two spells merge), which would let more absence lower a score."""

SNAPSHOT_COLUMNS = [*KEY_COLUMNS, *ALL_FEATURES, *DESCRIPTIVE_COLUMNS, *LABEL_COLUMNS]

RISES_WITH_ABSENCE = [
    "absence_rate_ytd",
    "authorised_rate_ytd",
    "unauthorised_rate_ytd",
    "illness_rate_ytd",
    "late_after_close_rate_ytd",
    "absence_rate_2w",
    "absence_rate_4w",
    "absence_rate_8w",
    "absence_change_2w",
    "absence_change_4w",
    "absence_change_8w",
    "absence_slope_8w",
    "weeks_since_full_attendance",
    "longest_spell_days_ytd",
    "monday_absence_rate",
    "friday_absence_rate",
    "pm_absence_rate",
    "absence_weeks_share_ytd",
    "absence_weeks_share_8w",
    "unresolved_sessions",
    "absence_rate_last_year",
    "pa_last_year",
]
"""Features that never fall when an on-time present session in the last two school weeks
becomes an absence (any code), nor when last year's absence was higher. The model is
constrained to be non-decreasing in each (LightGBM monotone constraints), and the features it
reads that are not listed here do not move with recent absence, so more recent absence never
lowers a score (tests/training/test_behaviour.py checks it through the whole pipeline)."""

AUDIT_COLUMNS = ["sex", "ethnicity"]
"""Used only by the fairness audit, never as model inputs or reasons."""

PROTECTED_COLUMNS = frozenset({"sex", "ethnicity"})
