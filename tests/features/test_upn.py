"""Unique pupil numbers: the DfE check letter, by hand and as published."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.upn import CHECK_ALPHABET, check_letter, is_valid_upn, make_upns, upn_problem


def test_check_letter_by_hand():
    # 8·2 + 2·3 + 0·4 + 2·5 + 0·6 + 0·7 + 1·8 + 1·9 + 0·10 + 0·11 + 0·12 + 1·13 = 62;
    # 62 mod 23 = 16 → the 17th letter of ABCDEFGHJKLMNPQRTUVWXYZ = T.
    assert check_letter("820200110001") == "T"
    assert is_valid_upn("T820200110001")


def test_published_example():
    # python-stdnum's UPN module documents B801200005001 as valid and A801200005001 as not.
    assert is_valid_upn("B801200005001")
    assert not is_valid_upn("A801200005001")


def test_temporary_upn_last_letter_counts_as_its_place_in_the_check_alphabet():
    # 62 − 1·13 = 49 with A = 0 → 49 mod 23 = 3 → D; with Z = 22: 49 + 286 = 335 → 13 → P.
    assert check_letter("82020011000A") == "D"
    assert check_letter("82020011000Z") == "P"
    assert is_valid_upn("P82020011000Z")


def test_check_alphabet_has_no_i_o_or_s():
    assert len(CHECK_ALPHABET) == 23
    assert not set("IOS") & set(CHECK_ALPHABET)


@pytest.mark.parametrize(
    ("upn", "words"),
    [
        ("T82020011000", "13 characters; this has 12"),
        ("A820 200110001", "no spaces"),
        ("A82020011000 ", "no spaces"),
        ("182020011000A", "a capital check letter"),
        ("I820200110001", "a capital check letter"),  # I is never a check letter
        ("T8202001100A1", "11 digits"),
        ("A820200110001", "check letter is 'A' but the digits give 'T'"),
    ],
)
def test_upn_problem_says_what_is_wrong(upn, words):
    assert words in upn_problem(upn)


def test_make_upns_golden_and_valid():
    upns = make_upns(820, 2001, 2010, np.array([1, 0, 999]))
    assert upns.tolist() == ["T820200110001", "D820200110000", "F820200110999"]
    assert all(is_valid_upn(u) for u in upns)


def test_make_upns_edge_cases():
    assert make_upns(999, 9001, 24, np.array([], dtype=np.int64)).tolist() == []
    with pytest.raises(ValueError, match="0 to 999"):
        make_upns(999, 9001, 24, np.array([1000]))


@settings(max_examples=200, deadline=None)
@given(
    serial=st.integers(0, 999),
    position=st.integers(1, 12),
    change=st.integers(1, 9),
)
def test_any_single_mistyped_digit_is_caught(serial, position, change):
    """Weights 2–13 and a change of 1–9 never make a multiple of 23, so one wrong digit always
    changes the check letter."""
    upn = make_upns(999, 9001, 24, np.array([serial]))[0]
    digit = (int(upn[position]) + change) % 10
    mistyped = upn[:position] + str(digit) + upn[position + 1 :]
    assert not is_valid_upn(mistyped)


@settings(max_examples=200, deadline=None)
@given(serial=st.integers(0, 999), position=st.integers(1, 11))
def test_swapped_neighbouring_digits_are_caught(serial, position):
    upn = make_upns(999, 9001, 24, np.array([serial]))[0]
    a, b = upn[position], upn[position + 1]
    swapped = upn[:position] + b + a + upn[position + 2 :]
    assert is_valid_upn(swapped) == (a == b)
