"""Last year's absence at another school: a pupil who really moved brings it along, a UPN put
on a roster without knowing the pupil does not (both databases)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tests.serving.helpers import (
    OTHER_SCHOOL,
    SCHOOL,
    SchoolData,
    Service,
    make_school,
    upload,
)

LAST_YEAR_MONDAY = dt.date(2023, 9, 4)


def _reasons_by_upn(service: Service) -> dict[str, list[str]]:
    body = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
    ).json()
    return {p["upn"]: [r["text"] for r in p["reasons"]] for p in body["pupils"]}


def test_history_follows_a_transfer_but_not_a_borrowed_upn(service: Service) -> None:
    # Last year the pupils were at the primary school (OTHER_SCHOOL), three weeks of registers.
    primary = make_school(OTHER_SCHOOL, n=10)
    response = upload(
        service, "roster", OTHER_SCHOOL, primary.roster_csv(), "r.csv", "other_school"
    )
    assert response.status_code == 200, response.text
    for week in (1, 2, 3):
        data = primary.week_csv(week, first_monday=LAST_YEAR_MONDAY)
        response = upload(service, "registers", OTHER_SCHOOL, data, f"{week}.csv", "other_school")
        assert response.status_code == 200, response.text

    # This year SCHOOL's roster has its own pupils plus two UPNs from the primary school:
    # one pupil who moved (same date of birth), one UPN with a date of birth that is not theirs.
    own = make_school(SCHOOL, n=10)
    moved, borrowed = primary.roster.iloc[[8]].copy(), primary.roster.iloc[[9]].copy()
    borrowed["date_of_birth"] = "2013-01-01"
    roster = pd.concat([own.roster, moved, borrowed], ignore_index=True)
    secondary = SchoolData(SCHOOL, [*own.upns, *moved["upn"], *borrowed["upn"]], roster)
    assert upload(service, "roster", SCHOOL, secondary.roster_csv(), "r.csv").status_code == 200
    for week in (1, 2):
        response = upload(service, "registers", SCHOOL, secondary.week_csv(week), f"{week}.csv")
        assert response.status_code == 200, response.text

    reasons = _reasons_by_upn(service)
    moved_upn, borrowed_upn = moved["upn"].iloc[0], borrowed["upn"].iloc[0]
    # The primary school's pupils 8 and 9 missed sessions last year: the mover's reasons say so.
    assert any(text.endswith("last year") for text in reasons[moved_upn]), reasons[moved_upn]
    assert not any(text.endswith("last year") for text in reasons[borrowed_upn])
    assert not any(text.endswith("last year") for u in own.upns for text in reasons[u])


def test_a_correction_to_last_year_rescores_every_stored_week_of_this_year(
    service: Service,
) -> None:
    school = make_school(SCHOOL, n=10)
    assert upload(service, "roster", SCHOOL, school.roster_csv(), "r.csv").status_code == 200
    last_year = school.week_marks(1, first_monday=LAST_YEAR_MONDAY)
    upload(service, "registers", SCHOOL, last_year.to_csv(index=False).encode(), "old.csv")
    for week in (1, 2, 3):
        response = upload(service, "registers", SCHOOL, school.week_csv(week), f"{week}.csv")
        assert response.status_code == 200, response.text
    upn = school.upns[0]  # present all of last year's week
    corrected = last_year.copy()
    corrected.loc[corrected["upn"] == upn, "mark"] = "O"
    response = upload(
        service, "registers", SCHOOL, corrected.to_csv(index=False).encode(), "old-fixed.csv"
    )
    assert response.status_code == 200, response.text
    assert response.json()["scoring"]["weeks_rescored"] == [1, 2, 3]
    page = service.client.get(
        f"/v1/pupils/{upn}", params={"school": SCHOOL}, headers=service.auth("school")
    ).json()
    assert [h["week"] for h in page["risk_history"]] == [1, 2, 3]
    assert "Absence 100% last year" in [r["text"] for r in page["latest"]["reasons"]]
