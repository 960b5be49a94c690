"""Field lengths the service can store, in one place.

The service keeps rosters and marks in SQL columns of fixed length (``serving/models.py``):
a value that is longer fails in PostgreSQL after validation has passed. The readers check
these limits so the school gets a row-level error instead. Keep them equal to the column
lengths there.
"""

from __future__ import annotations

from collections.abc import Mapping

UPN_LENGTH = 13
"""A UPN is exactly 13 characters (also checked, with its check letter, by the UPN rules)."""

ROSTER_FIELD_LIMITS: Mapping[str, int] = {
    "upn": UPN_LENGTH,
    "forename": 100,
    "surname": 100,
    "ethnicity": 40,
}
"""Longest text the service stores per roster field (``sex`` and ``sen`` are single letters
once read)."""

MARK_CODE_LENGTH = 2
"""Statutory codes are at most two characters (``C1``, ``Y7``)."""
