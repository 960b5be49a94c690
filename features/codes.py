"""The attendance register code table, exactly as the DfE defines it.

Two statutory code sets apply, depending on the date of the session:

* the 2006 regulations' set, used until 18 August 2024;
* the 2024 set (School Attendance (Pupil Registration) (England) Regulations 2024), in force from
  19 August 2024.

Each code belongs to one category, and the category decides the arithmetic
(see :mod:`features.arithmetic`):

=========  ====================================================  ================================
category   meaning                                               in possible sessions?
=========  ====================================================  ================================
``P``      present                                               yes (attendance)
``AEA``    attending an approved educational activity            yes (attendance)
``AUTH``   authorised absence                                    yes (absence)
``UNAUTH`` unauthorised absence                                  yes (absence)
``XCOV``   COVID-related non-attendance (``X``, Sept 2020 to     yes, but neither attendance
           March 2022)                                           nor absence
``NC``     not counted                                           no
``MISSING`` ``-``: no mark recorded (a data-quality issue)        no (and reported as a warning)
=========  ====================================================  ================================

MIS quirks handled here: Capita One single-symbol aliases for the 2024 two-character codes, and
per-school display codes (SIMS lets a school show ``9`` for statutory ``Y``), mapped to statutory
codes before any arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

CODE_SET_2024_FROM = dt.date(2024, 8, 19)
"""First day the 2024 code set applies (the 2006 set applies before it)."""

COVID_X_FROM = dt.date(2020, 9, 1)
COVID_X_TO = dt.date(2022, 3, 31)
"""Dates between which ``X`` recorded COVID-related non-attendance, included in possible
sessions (DfE absence methodology, 2020/21 and 2021/22 until April 2022)."""

F_WITHDRAWN_AFTER = dt.date(2013, 8, 31)
"""``F`` (extended family holiday) was withdrawn from September 2013."""


class Category(StrEnum):
    """What a register mark counts as in DfE arithmetic."""

    PRESENT = "P"
    AEA = "AEA"
    AUTHORISED = "AUTH"
    UNAUTHORISED = "UNAUTH"
    COVID_X = "XCOV"
    NOT_COUNTED = "NC"
    MISSING = "MISSING"


@dataclass(frozen=True)
class Code:
    """One statutory register code, valid between two dates (inclusive; ``None`` = open)."""

    code: str
    meaning: str
    category: Category
    code_set: str  # "2006", "2024" or "both"
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date) -> bool:
        """Whether this code may be recorded for a session on ``day``."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return not (self.valid_to is not None and day > self.valid_to)


_C = Category
_LAST_2006 = CODE_SET_2024_FROM - dt.timedelta(days=1)

CODES: tuple[Code, ...] = (
    # Codes in both sets (the meaning of some was reworded in 2024; the category was not).
    Code("/", "Present (AM)", _C.PRESENT, "both"),
    Code("\\", "Present (PM)", _C.PRESENT, "both"),
    Code("L", "Late, arrived before the register closed", _C.PRESENT, "both"),
    Code("V", "Educational visit or trip", _C.AEA, "both"),
    Code("P", "Approved sporting activity", _C.AEA, "both"),
    Code("W", "Work experience", _C.AEA, "both"),
    Code("B", "Other approved educational activity", _C.AEA, "both"),
    Code("M", "Leave: medical or dental appointment", _C.AUTHORISED, "both"),
    Code("S", "Leave: study leave", _C.AUTHORISED, "both"),
    Code("C", "Leave: other exceptional circumstances", _C.AUTHORISED, "both"),
    Code("T", "Mobile child travelling for occupational purposes", _C.AUTHORISED, "both"),
    Code("R", "Religious observance", _C.AUTHORISED, "both"),
    Code("I", "Illness (not medical or dental appointment)", _C.AUTHORISED, "both"),
    Code("E", "Suspended or excluded, no alternative provision", _C.AUTHORISED, "both"),
    Code("G", "Holiday not granted by the school", _C.UNAUTHORISED, "both"),
    Code("N", "Reason for absence not yet established", _C.UNAUTHORISED, "both"),
    Code("O", "Absent in other or unknown circumstances", _C.UNAUTHORISED, "both"),
    Code("U", "Arrived after the register closed", _C.UNAUTHORISED, "both"),
    Code("D", "Dual registered, attending the other school", _C.NOT_COUNTED, "both"),
    Code("X", "Not of compulsory school age, not required to attend", _C.NOT_COUNTED, "both"),
    Code("Z", "Prospective pupil not yet on roll", _C.NOT_COUNTED, "both"),
    Code("#", "Planned whole-school closure", _C.NOT_COUNTED, "both"),
    # 2006 set only.
    Code("H", "Agreed family holiday", _C.AUTHORISED, "2006", valid_to=_LAST_2006),
    Code("F", "Agreed extended family holiday", _C.AUTHORISED, "2006", valid_to=F_WITHDRAWN_AFTER),
    Code("J", "Interview", _C.AEA, "2006", valid_to=_LAST_2006),
    Code(
        "Y",
        "Unable to attend due to exceptional circumstances",
        _C.NOT_COUNTED,
        "2006",
        valid_to=_LAST_2006,
    ),
    # 2024 set only.
    Code(
        "K",
        "Education provision arranged by the local authority",
        _C.AEA,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "C1",
        "Leave: regulated performance or employment abroad",
        _C.AUTHORISED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code("J1", "Leave: interview", _C.AUTHORISED, "2024", valid_from=CODE_SET_2024_FROM),
    Code(
        "C2",
        "Leave: temporary reduced (part-time) timetable",
        _C.AUTHORISED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Q",
        "Unable to attend: lack of access arrangements",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y1",
        "Unable to attend: transport not available",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y2",
        "Unable to attend: widespread travel disruption",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y3",
        "Unable to attend: part of the school premises closed",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y4",
        "Unable to attend: whole school site unexpectedly closed",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y5",
        "Unable to attend: criminal justice detention",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y6",
        "Unable to attend: public health guidance or law",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    Code(
        "Y7",
        "Unable to attend: any other unavoidable cause",
        _C.NOT_COUNTED,
        "2024",
        valid_from=CODE_SET_2024_FROM,
    ),
    # Not a statutory code: the MIS placeholder for "no mark recorded".
    Code("-", "No mark recorded", _C.MISSING, "both"),
)

CODE_TABLE: Mapping[str, Code] = {c.code: c for c in CODES}

PRESENT_CODES = frozenset(c.code for c in CODES if c.category is _C.PRESENT)
ILLNESS_CODE = "I"
LATE_BEFORE_CLOSE_CODE = "L"
LATE_AFTER_CLOSE_CODE = "U"
UNRESOLVED_CODE = "N"
NO_MARK_CODE = "-"
CLOSURE_CODE = "#"
PROSPECTIVE_CODE = "Z"

CAPITA_ONE_ALIASES: Mapping[str, str] = {
    "<": "C1",
    ">": "C2",
    "?": "J1",
    "$": "Y1",
    "a": "Y2",
    "%": "Y3",
    "`": "Y4",
    ":": "Y5",
    "|": "Y6",
    "_": "Y7",
}
"""Capita One stores the 2024 two-character codes as single symbols."""


def code_set_on(day: dt.date) -> str:
    """The statutory code set in force on ``day``: ``"2006"`` or ``"2024"``."""
    return "2024" if day >= CODE_SET_2024_FROM else "2006"


def normalise_code(mark: str, display_codes: Mapping[str, str] | None = None) -> str:
    """Map a raw register mark to its statutory code.

    A school's own display codes (``display_codes``, local → statutory) are applied first, then
    Capita One symbols. Surrounding white space is dropped; letters are upper-cased except the
    Capita One symbol ``a``. The result may still be unknown: check it with :func:`lookup`.
    """
    raw = mark.strip()
    if display_codes and raw in display_codes:
        return display_codes[raw]
    if raw in CAPITA_ONE_ALIASES:
        return CAPITA_ONE_ALIASES[raw]
    return raw.upper()


def lookup(code: str, day: dt.date) -> Code | None:
    """The statutory code ``code`` as it applies on ``day``, or ``None`` if not valid then."""
    entry = CODE_TABLE.get(code)
    if entry is None or not entry.valid_on(day):
        return None
    return entry


def category_on(code: str, day: dt.date) -> Category | None:
    """The category of ``code`` for a session on ``day`` (``None`` if the code is not valid)."""
    entry = lookup(code, day)
    if entry is None:
        return None
    if code == "X" and COVID_X_FROM <= day <= COVID_X_TO:
        return Category.COVID_X
    return entry.category


# --- vectorised forms -------------------------------------------------------------------------

CATEGORY_ORDER: tuple[Category, ...] = tuple(Category)
"""Integer category ids used by the vectorised functions: index in this tuple."""

CATEGORY_ID = {cat: i for i, cat in enumerate(CATEGORY_ORDER)}
INVALID_CATEGORY_ID = -1


def categories(codes: pd.Series, dates: pd.Series | np.ndarray) -> np.ndarray:
    """Vectorised :func:`category_on`: an int8 array of category ids (see ``CATEGORY_ORDER``).

    ``codes`` holds statutory codes (any dtype, categorical is fastest) and ``dates`` the
    session dates (datetime64). Codes unknown, or not valid on their date, get
    ``INVALID_CATEGORY_ID``.
    """
    codes_cat = codes if isinstance(codes.dtype, pd.CategoricalDtype) else codes.astype("category")
    entries = [CODE_TABLE.get(str(code)) for code in codes_cat.cat.categories]
    by_code = np.array(
        [CATEGORY_ID[e.category] if e is not None else INVALID_CATEGORY_ID for e in entries]
        + [INVALID_CATEGORY_ID],  # missing values (code -1)
        dtype=np.int8,
    )
    cat_codes = codes_cat.cat.codes.to_numpy()
    result = by_code[cat_codes]
    dated = [
        (idx, e)
        for idx, e in enumerate(entries)
        if e is not None and (e.valid_from or e.valid_to or e.code == "X")
    ]
    if not dated:
        return result
    values = dates.to_numpy() if isinstance(dates, pd.Series) else np.asarray(dates)
    if not np.issubdtype(values.dtype, np.datetime64):
        values = pd.to_datetime(values).to_numpy()
    days = values.astype("datetime64[D]")
    for idx, entry in dated:
        rows = np.flatnonzero(cat_codes == idx)
        if len(rows) == 0:
            continue
        row_dates = days[rows]
        valid = np.ones(len(rows), dtype=bool)
        if entry.valid_from is not None:
            valid &= row_dates >= np.datetime64(entry.valid_from)
        if entry.valid_to is not None:
            valid &= row_dates <= np.datetime64(entry.valid_to)
        ids = np.where(valid, CATEGORY_ID[entry.category], INVALID_CATEGORY_ID).astype(np.int8)
        if entry.code == "X":
            covid = (row_dates >= np.datetime64(COVID_X_FROM)) & (
                row_dates <= np.datetime64(COVID_X_TO)
            )
            ids[covid] = CATEGORY_ID[Category.COVID_X]
        result[rows] = ids
    return result


def code_table_frame() -> pd.DataFrame:
    """The code table as a DataFrame (for documentation, the API and the web pages)."""
    return pd.DataFrame(
        [
            {
                "code": c.code,
                "meaning": c.meaning,
                "category": c.category.value,
                "code_set": c.code_set,
                "valid_from": c.valid_from,
                "valid_to": c.valid_to,
            }
            for c in CODES
        ]
    )
