"""The register code table (DOMAIN.md §1.1): categories, code sets by date, MIS quirks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.codes import (
    CAPITA_ONE_ALIASES,
    CATEGORY_ORDER,
    CODE_TABLE,
    INVALID_CATEGORY_ID,
    Category,
    categories,
    category_on,
    code_set_on,
    code_table_frame,
    lookup,
    normalise_code,
)

C = Category
AUTUMN_2024 = dt.date(2024, 9, 2)  # 2024 code set
SUMMER_2024 = dt.date(2024, 7, 1)  # 2006 code set
COVID = dt.date(2021, 1, 11)  # X = COVID-related non-attendance


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("/", C.PRESENT), ("\\", C.PRESENT), ("L", C.PRESENT),
        ("K", C.AEA), ("V", C.AEA), ("P", C.AEA), ("W", C.AEA), ("B", C.AEA),
        ("C1", C.AUTHORISED), ("M", C.AUTHORISED), ("J1", C.AUTHORISED), ("S", C.AUTHORISED),
        ("C2", C.AUTHORISED), ("C", C.AUTHORISED), ("T", C.AUTHORISED), ("R", C.AUTHORISED),
        ("I", C.AUTHORISED), ("E", C.AUTHORISED),
        ("G", C.UNAUTHORISED), ("N", C.UNAUTHORISED), ("O", C.UNAUTHORISED),
        ("U", C.UNAUTHORISED),
        ("D", C.NOT_COUNTED), ("X", C.NOT_COUNTED), ("Q", C.NOT_COUNTED), ("Y1", C.NOT_COUNTED),
        ("Y2", C.NOT_COUNTED), ("Y3", C.NOT_COUNTED), ("Y4", C.NOT_COUNTED),
        ("Y5", C.NOT_COUNTED), ("Y6", C.NOT_COUNTED), ("Y7", C.NOT_COUNTED),
        ("Z", C.NOT_COUNTED), ("#", C.NOT_COUNTED),
        ("-", C.MISSING),
    ],
)  # fmt: skip
def test_2024_code_set_categories(code, category):
    assert category_on(code, AUTUMN_2024) is category


@pytest.mark.parametrize(
    ("code", "category"),
    [("H", C.AUTHORISED), ("J", C.AEA), ("Y", C.NOT_COUNTED), ("I", C.AUTHORISED)],
)
def test_2006_code_set_categories(code, category):
    assert category_on(code, SUMMER_2024) is category


def test_code_set_changes_on_19_august_2024():
    last_2006, first_2024 = dt.date(2024, 8, 18), dt.date(2024, 8, 19)
    assert (code_set_on(last_2006), code_set_on(first_2024)) == ("2006", "2024")
    for code in ("H", "J", "Y"):
        assert lookup(code, last_2006) is not None and lookup(code, first_2024) is None
    for code in ("K", "C1", "C2", "J1", "Q", "Y1", "Y7"):
        assert lookup(code, last_2006) is None and lookup(code, first_2024) is not None


def test_f_withdrawn_from_september_2013():
    assert category_on("F", dt.date(2013, 8, 31)) is C.AUTHORISED
    assert category_on("F", dt.date(2013, 9, 2)) is None


def test_x_was_covid_non_attendance_from_september_2020_to_march_2022():
    assert category_on("X", dt.date(2020, 8, 31)) is C.NOT_COUNTED
    assert category_on("X", dt.date(2020, 9, 1)) is C.COVID_X
    assert category_on("X", dt.date(2022, 3, 31)) is C.COVID_X
    assert category_on("X", dt.date(2022, 4, 1)) is C.NOT_COUNTED


def test_unknown_codes():
    assert lookup("Q9", AUTUMN_2024) is None
    assert category_on("A", AUTUMN_2024) is None


def test_capita_one_symbols_are_the_2024_two_character_codes():
    assert dict(CAPITA_ONE_ALIASES) == {
        "<": "C1", ">": "C2", "?": "J1", "$": "Y1", "a": "Y2", "%": "Y3", "`": "Y4", ":": "Y5",
        "|": "Y6", "_": "Y7",
    }  # fmt: skip
    for symbol, code in CAPITA_ONE_ALIASES.items():
        assert normalise_code(symbol) == code
        assert code in CODE_TABLE


def test_normalise_code():
    assert normalise_code(" i ") == "I"
    assert normalise_code("c2") == "C2"
    assert normalise_code("/") == "/"
    # A school's display code is mapped before anything else (SIMS shows 9 for Y).
    assert normalise_code("9", {"9": "Y"}) == "Y"
    assert normalise_code("a", {"a": "O"}) == "O"
    assert normalise_code("9") == "9"  # unknown, left for validation to report


def test_vectorised_categories_golden():
    codes = pd.Series(["/", "H", "H", "C2", "C2", "X", "X", "Q9", "-", "I"])
    dates = pd.to_datetime(
        ["2024-09-02", "2024-07-01", "2024-09-02", "2024-07-01", "2024-09-02",
         "2021-01-11", "2024-09-02", "2024-09-02", "2024-09-02", "2010-01-04"]
    )  # fmt: skip
    ids = categories(codes, pd.Series(dates))
    names = [CATEGORY_ORDER[i].name if i != INVALID_CATEGORY_ID else None for i in ids]
    assert names == [
        "PRESENT", "AUTHORISED", None, None, "AUTHORISED", "COVID_X", "NOT_COUNTED", None,
        "MISSING", "AUTHORISED",
    ]  # fmt: skip
    assert ids.dtype == np.int8


ALL_CODES = st.sampled_from([*CODE_TABLE, "Q9", "A", ""])
DATES = st.dates(min_value=dt.date(2010, 1, 1), max_value=dt.date(2026, 7, 31))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ALL_CODES, DATES), min_size=1, max_size=40))
def test_vectorised_categories_agree_with_category_on(pairs):
    codes = pd.Series([c for c, _ in pairs])
    dates = pd.Series(pd.to_datetime([d for _, d in pairs]))
    ids = categories(codes, dates)
    expected = [category_on(c, d) for c, d in pairs]
    assert [CATEGORY_ORDER[i] if i != INVALID_CATEGORY_ID else None for i in ids] == expected


def test_code_table_frame_lists_every_code_once():
    frame = code_table_frame()
    assert frame["code"].is_unique
    assert len(frame) == len(CODE_TABLE)
    assert set(frame["category"]) <= {c.value for c in Category}
