"""Small built-in lists for fictional pupils and schools (no real person or school is meant)."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FORENAMES_F = _words(
    """Amelia Olivia Isla Ava Mia Ivy Lily Freya Florence Grace Sophia Willow Evie Poppy Ella
    Aisha Maryam Zara Hana Amara Chloe Ruby Emily Millie Daisy Phoebe Nia Priya Leah Maya Sienna
    Esme Harper Alice Layla Eliza Ada Imogen Elsie Matilda"""
)
FORENAMES_M = _words(
    """Noah Oliver George Arthur Muhammad Leo Harry Oscar Archie Henry Theo Jack Charlie Freddie
    Alfie Ibrahim Yusuf Kai Reuben Joshua Samuel Ethan Isaac Lucas Adam Omar Rohan Kofi Tomasz
    Jacob Finley Ezra Max Thomas Elijah Zain Luca Rory Dylan Hugo"""
)
SURNAMES = _words(
    """Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Robinson Wright Thompson
    Evans Walker White Roberts Green Hall Wood Jackson Clarke Khan Ahmed Hussain Ali Begum Okafor
    Mensah Nowak Kowalski Murphy Kelly Hughes Edwards Turner Hill Moore Cooper Ward Morris King
    Harris Lewis Baker Mitchell Chen Singh Osei Campbell Bennett"""
)

PLACE_STEMS = _words(
    """Ash Birch Brook Elm Fern Hazel Holly Kings Lark Mill Oak Rose Thorn Willow Alder Heath
    Marsh Orchard Stone Wren"""
)
PLACE_ENDINGS = _words("field wood mead bridge ford hill dale gate lea combe ton bury")
PLACE_SUFFIXES = ("", " Park", " Green", " Lane", " Vale", " Cross")

PRIMARY_KINDS = (
    "Primary School",
    "Primary Academy",
    "Community Primary School",
    "C of E Primary School",
    "Junior and Infant School",
    "Catholic Primary School",
)
SECONDARY_KINDS = ("Academy", "High School", "School", "Community College")
SPECIAL_KINDS = ("Special School", "School", "Academy")
