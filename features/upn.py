"""Unique pupil numbers (UPNs), as the DfE defines them.

A UPN is 13 characters: a check letter, then 12 characters — the LA code (3 digits), the
establishment number (4), the year of allocation (2) and a serial (3). A *temporary* UPN ends
in a letter instead of the last digit. The check letter is computed from characters 2–13:
each is multiplied by its position (2…13; a letter counts as its index in ``CHECK_ALPHABET``),
the products are summed, and the remainder mod 23 indexes ``CHECK_ALPHABET``
(DfE, *Unique pupil numbers (UPN): guidance for schools and local authorities*).
"""

from __future__ import annotations

import re

import numpy as np

CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O or S
_UPN_RE = re.compile(rf"^[{CHECK_ALPHABET}]\d{{11}}[0-9{CHECK_ALPHABET}]$")
_WEIGHTS = np.arange(2, 14)


def check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it."""
    if len(body) != 12:
        raise ValueError(f"a UPN body has 12 characters, not {len(body)}")
    total = 0
    for weight, char in zip(range(2, 14), body, strict=True):
        total += weight * (int(char) if char.isdigit() else CHECK_ALPHABET.index(char))
    return CHECK_ALPHABET[total % 23]


def upn_problem(upn: str) -> str | None:
    """Why ``upn`` is not a valid UPN, or ``None`` if it is."""
    if re.search(r"\s", upn):
        return "a UPN has no spaces: remove them (13 characters: a check letter, then 12)"
    if len(upn) != 13:
        return f"a UPN has 13 characters; this has {len(upn)}"
    if not _UPN_RE.match(upn):
        return (
            "a UPN is a capital check letter (not I, O or S), 11 digits, then a digit "
            "(or a letter for a temporary UPN)"
        )
    expected = check_letter(upn[1:])
    if upn[0] != expected:
        return f"check letter is {upn[0]!r} but the digits give {expected!r}: a digit is mistyped"
    return None


def is_valid_upn(upn: str) -> bool:
    """Whether ``upn`` is a well-formed UPN with the right check letter."""
    return upn_problem(upn) is None


def make_upns(la_code: int, establishment: int, year: int, serials: np.ndarray) -> np.ndarray:
    """Vectorised: permanent UPNs for serial numbers (0–999) allocated by one establishment.

    Returns an array of 13-character strings with correct check letters.
    """
    serials = np.asarray(serials, dtype=np.int64)
    if serials.size and (serials.min() < 0 or serials.max() > 999):
        raise ValueError("UPN serials run from 0 to 999")
    if serials.size == 0:
        return np.empty(0, dtype=object)  # np.char.zfill cannot take an empty array
    prefix = f"{la_code:03d}{establishment:04d}{year % 100:02d}"
    prefix_digits = np.array([int(c) for c in prefix], dtype=np.int64)
    serial_digits = np.stack([serials // 100, (serials // 10) % 10, serials % 10], axis=1)
    digits = np.concatenate(
        [np.broadcast_to(prefix_digits, (len(serials), 9)), serial_digits], axis=1
    )
    checks = np.array(list(CHECK_ALPHABET))[(digits * _WEIGHTS).sum(axis=1) % 23]
    bodies = np.char.add(prefix, np.char.zfill(serials.astype(str), 3))
    return np.char.add(checks, bodies).astype(object)
