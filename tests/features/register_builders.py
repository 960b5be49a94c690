"""Hand-built registers for golden and property tests."""

from __future__ import annotations

import pandas as pd

URN = 100001


def marks_from_days(days: dict[str, dict[str, tuple[str, str]]], urn: int = URN) -> pd.DataFrame:
    """``{upn: {"YYYY-MM-DD": (am_code, pm_code)}}`` → canonical marks."""
    rows = [
        (urn, upn, day, session, code)
        for upn, by_day in days.items()
        for day, pair in by_day.items()
        for session, code in zip(("AM", "PM"), pair, strict=True)
    ]
    marks = pd.DataFrame(rows, columns=["school_urn", "upn", "date", "session", "code"])
    marks["date"] = pd.to_datetime(marks["date"])
    return marks


# Pupil A, two school weeks in September 2024 (2024 code set). Wednesday of week 1 is a
# planned closure (#), which neither breaks nor extends a spell.
PUPIL_A = {
    "2024-09-02": ("/", "I"),
    "2024-09-03": ("I", "I"),
    "2024-09-04": ("#", "#"),
    "2024-09-05": ("I", "/"),
    "2024-09-06": ("O", "O"),
    "2024-09-09": ("O", "O"),
    "2024-09-10": ("/", "/"),
}
# Pupil B: present throughout but for a late mark after the register closed (U), an
# unresolved N, a late L and an educational visit (V).
PUPIL_B = {
    "2024-09-02": ("/", "\\"),
    "2024-09-03": ("L", "\\"),
    "2024-09-04": ("#", "#"),
    "2024-09-05": ("/", "\\"),
    "2024-09-06": ("U", "\\"),
    "2024-09-09": ("N", "\\"),
    "2024-09-10": ("V", "V"),
}
