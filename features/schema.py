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

FEATURE_SCHEMA_VERSION = "1"
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
    "spells_ytd",
    "mean_spell_days_ytd",
    "longest_spell_days_ytd",
    "spells_4w",
]
PATTERN_FEATURES = [
    "monday_absence_share",
    "friday_absence_share",
    "pm_absence_share",
    "unauthorised_share",
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
DEFAULT_FEATURE_SET = "attendance"

ALL_FEATURES = FEATURE_SETS["attendance+context"]
SNAPSHOT_COLUMNS = [*KEY_COLUMNS, *ALL_FEATURES, *LABEL_COLUMNS]

AUDIT_COLUMNS = ["sex", "ethnicity"]
"""Used only by the fairness audit, never as model inputs or reasons."""

PROTECTED_COLUMNS = frozenset({"sex", "ethnicity"})
