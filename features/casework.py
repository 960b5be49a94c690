"""The code lists of a family-support case record, defined once.

The service validates and labels case records with them (``serving.caseload``,
``serving.referrals``); the simulator draws its simulated case records from them
(``simulator.support``). Each ``Literal`` is the list of codes; each dict labels every code for
the pages, in the order the pages list them.
"""

from __future__ import annotations

from typing import Literal

ContactKind = Literal[
    "home_visit", "phone_call", "family_meeting", "school_meeting", "multi_agency_meeting", "other"
]
Barrier = Literal[
    "mental_health_child",
    "mental_health_parent",
    "housing",
    "bereavement",
    "bullying",
    "unmet_send",
    "caring_responsibilities",
    "poverty",
    "transport",
    "domestic_abuse",
    "other",
]
Outcome = Literal[
    "improved", "partly_improved", "no_change", "disengaged", "moved_away", "declined"
]

CONTACT_KINDS: dict[str, str] = {
    "home_visit": "Home visit",
    "phone_call": "Phone call",
    "family_meeting": "Meeting with the family",
    "school_meeting": "Meeting at school",
    "multi_agency_meeting": "Multi-agency meeting",
    "other": "Other",
}
BARRIERS: dict[str, str] = {
    "mental_health_child": "Mental health of the child",
    "mental_health_parent": "Mental health of a parent",
    "housing": "Housing",
    "bereavement": "Bereavement",
    "bullying": "Bullying",
    "unmet_send": "Unmet SEND needs",
    "caring_responsibilities": "Caring responsibilities",
    "poverty": "Poverty",
    "transport": "Transport",
    "domestic_abuse": "Domestic abuse",
    "other": "Other",
}
OUTCOMES: dict[str, str] = {
    "improved": "Attendance improved",
    "partly_improved": "Partly improved",
    "no_change": "No change",
    "disengaged": "Family disengaged",
    "moved_away": "Moved away",
    "declined": "Declined (not taken on)",
}
