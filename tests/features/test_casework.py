"""The case record's code lists: every code labelled, and nothing labelled that is not a code."""

from typing import get_args

import pytest

from features.casework import BARRIERS, CONTACT_KINDS, OUTCOMES, Barrier, ContactKind, Outcome


@pytest.mark.parametrize(
    ("codes", "labels"),
    [(ContactKind, CONTACT_KINDS), (Barrier, BARRIERS), (Outcome, OUTCOMES)],
)
def test_the_labels_are_the_codes(codes, labels) -> None:
    assert list(labels) == list(get_args(codes))
    assert all(text.strip() for text in labels.values())
