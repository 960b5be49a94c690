"""Register and roster uploads: validation, atomicity, idempotency, corrections, bad input."""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from features.trajectory import build_trajectory
from serving.models import Mark, Pupil, Score, Trajectory, Upload
from serving.pipeline import trajectory_from_bytes, trajectory_to_bytes
from serving.store import rescoring
from tests.serving.helpers import (
    OTHER_SCHOOL,
    SCHOOL,
    Service,
    load_weeks,
    make_school,
    upload,
)


def count(service: Service, table) -> int:
    with service.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_roster_then_week_is_stored_and_scored(service: Service, school) -> None:
    response = upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["added"], body["updated"], body["changed"]) == (30, 0, True)

    response = upload(service, "registers", SCHOOL, school.week_csv(1), "2024-09-02.csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pupils"] == 30
    assert body["sessions"] == 300
    assert body["marks_new"] == 300
    assert body["weeks_covered"] == ["2024-09-02"]
    assert body["school_weeks_covered"] == [1]
    assert body["scoring"]["scored"] is True
    assert body["scoring"]["model_version"] == "1"
    assert body["scoring"]["as_of"] == "2024-09-06"
    assert body["report"]["ok"] is True
    assert body["report"]["errors"] == [] and body["report"]["files"] == ["2024-09-02.csv"]
    assert count(service, Mark) == 300
    assert count(service, Score) == 30


def test_same_file_twice_changes_nothing_and_says_so(service: Service, school) -> None:
    load_weeks(service, school, range(1, 2))
    again = upload(service, "registers", SCHOOL, school.week_csv(1), "2024-09-02.csv")
    assert again.status_code == 200
    body = again.json()
    assert body["changed"] is False
    assert body["marks_unchanged"] == 300 and body["marks_new"] == 0
    assert "changes nothing" in body["message"]
    assert "upload" in body["message"]  # points at the earlier upload of the same file
    assert count(service, Mark) == 300
    roster_again = upload(service, "roster", SCHOOL, school.roster_csv(), "roster.csv")
    assert roster_again.json()["changed"] is False


def test_corrected_week_replaces_exactly_the_marks_it_covers(service: Service, school) -> None:
    load_weeks(service, school, range(1, 4))
    corrected = school.week_marks(2)
    # The office corrects two sessions: an O that was really illness, a present that was absent.
    target = corrected.index[(corrected["upn"] == school.upns[0])][:2]
    corrected.loc[target, "mark"] = ["M", "G"]
    response = upload(
        service, "registers", SCHOOL, corrected.to_csv(index=False).encode(), "w2-fixed.csv"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["marks_new"], body["marks_changed"], body["marks_unchanged"]) == (0, 2, 298)
    assert body["trajectory"] == "rebuilt"
    with service.db.read_session() as session:
        stored = pd.DataFrame(
            session.execute(
                select(Mark.school_urn, Mark.upn, Mark.date, Mark.session, Mark.code)
            ).all(),
            columns=["school_urn", "upn", "date", "session", "code"],
        )
        trajectory = trajectory_from_bytes(session.get(Trajectory, (SCHOOL, "2024/25")).payload)
    assert len(stored) == 900  # nothing outside the file's cells was touched
    pupil0 = stored[stored["upn"] == school.upns[0]].sort_values(["date", "session"])
    assert pupil0["code"].tolist()[10:12] == ["M", "G"]
    stored["date"] = pd.to_datetime(stored["date"])
    expected = build_trajectory(stored)
    key = ["upn", "week"]
    pd.testing.assert_frame_equal(
        trajectory.sort_values(key).reset_index(drop=True)[expected.columns],
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_a_corrected_earlier_week_rescores_its_stored_week_and_every_later_one(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 5))
    upn = school.upns[0]

    def history() -> dict[int, float]:
        page = service.client.get(
            f"/v1/pupils/{upn}", params={"school": SCHOOL}, headers=service.auth("school")
        ).json()
        return {h["week"]: h["risk"] for h in page["risk_history"]}

    before = history()
    # Week 2 is corrected: pupil 0 was in fact absent all week.
    corrected = school.week_marks(2)
    corrected.loc[corrected["upn"] == upn, "mark"] = "O"
    response = upload(
        service, "registers", SCHOOL, corrected.to_csv(index=False).encode(), "w2-fixed.csv"
    )
    assert response.status_code == 200, response.text
    assert response.json()["scoring"]["weeks_rescored"] == [2, 3, 4]
    after = history()
    assert after[1] == before[1]  # before the correction: untouched
    # Every stored week from the corrected one on holds what scoring the corrected marks gives.
    marks = {w: school.week_marks(w) for w in range(1, 5)}
    marks[2] = corrected
    for week in (2, 3, 4):
        register = pd.concat([marks[w] for w in range(1, week + 1)]).to_csv(index=False)
        fresh = service.client.post(
            "/v1/score",
            params={"school_urn": SCHOOL},
            files={
                "registers": ("r.csv", register.encode(), "text/csv"),
                "roster": ("roster.csv", school.roster_csv(), "text/csv"),
            },
            headers=service.auth("school"),
        ).json()
        assert fresh["week"] == week
        expected = next(p["risk"] for p in fresh["pupils"] if p["upn"] == upn)
        assert after[week] == expected, week
        assert after[week] > before[week]
    ranks = service.client.get(
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
    ).json()["pupils"]
    assert [p["rank"] for p in ranks] == list(range(1, 31))  # ranked within the week


def test_weeks_appended_one_by_one_equal_the_trajectory_of_all_marks(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 5))
    with service.db.read_session() as session:
        row = session.get(Trajectory, (SCHOOL, "2024/25"))
        trajectory = trajectory_from_bytes(row.payload)
    all_marks = pd.concat([school.week_marks(w) for w in range(1, 5)])
    all_marks = all_marks.rename(columns={"mark": "code"}).assign(school_urn=SCHOOL)
    all_marks["date"] = pd.to_datetime(all_marks["date"])
    expected = build_trajectory(all_marks)
    assert row.weeks == 4
    key = ["upn", "week"]
    pd.testing.assert_frame_equal(
        trajectory.sort_values(key).reset_index(drop=True)[expected.columns],
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def _age_the_stored_trajectory(service: Service, how: str) -> None:
    """Make the stored trajectory look as an older feature schema wrote it."""
    from features.trajectory import COUNTER_COLUMNS

    with service.db.write() as session:
        row = session.get(Trajectory, (SCHOOL, "2024/25"))
        row.feature_schema_version = "0"
        if how == "columns":  # written before the latest counters existed
            frame = trajectory_from_bytes(row.payload)
            row.payload = trajectory_to_bytes(frame.drop(columns=COUNTER_COLUMNS[-3:]))


def _assert_current(service: Service, weeks: range) -> pd.DataFrame:
    import features.schema
    from features.trajectory import TRAJECTORY_COLUMNS

    with service.db.read_session() as session:
        row = session.get(Trajectory, (SCHOOL, "2024/25"))
        stored = trajectory_from_bytes(row.payload)
        assert row.feature_schema_version == features.schema.FEATURE_SCHEMA_VERSION
    assert list(stored.columns) == list(TRAJECTORY_COLUMNS)
    marks = pd.concat([make_school().week_marks(w) for w in weeks])
    marks = marks.rename(columns={"mark": "code"}).assign(school_urn=SCHOOL)
    marks["date"] = pd.to_datetime(marks["date"])
    expected = build_trajectory(marks)
    key = ["upn", "week"]
    pd.testing.assert_frame_equal(
        stored.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    return stored


@pytest.mark.parametrize("how", ["columns", "version"])
def test_a_trajectory_of_an_older_feature_schema_is_rebuilt_not_appended_to(
    service: Service, school, how: str
) -> None:
    load_weeks(service, school, range(1, 3))
    _age_the_stored_trajectory(service, how)
    response = upload(service, "registers", SCHOOL, school.week_csv(3), "w3.csv")
    assert response.status_code == 200, response.text
    assert response.json()["trajectory"] == "rebuilt"
    _assert_current(service, range(1, 4))


def test_rescoring_with_a_new_model_rebuilds_an_older_trajectory(service: Service, school):
    load_weeks(service, school, range(1, 3))
    _age_the_stored_trajectory(service, "columns")
    service.source.version = "2"
    assert service.client.app.state.holder.refresh() is True  # re-scores every school
    _assert_current(service, range(1, 3))
    body = service.client.get(f"/v1/schools/{SCHOOL}/risk", headers=service.auth("school")).json()
    assert body["model_version"] == "2" and body["week"] == 2


def test_file_with_errors_changes_nothing_and_reports_rows(service: Service, school) -> None:
    load_weeks(service, school, range(1, 2))
    bad = school.week_marks(2)
    bad.loc[5, "mark"] = "QQ"  # unknown code, on file row 7 (header is row 1)
    bad.loc[8, "session"] = "XX"
    response = upload(service, "registers", SCHOOL, bad.to_csv(index=False).encode(), "w2.csv")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "nothing was stored" in detail["message"]
    rows = {e["row"] for e in detail["report"]["errors"]}
    assert {7, 10} <= rows
    assert count(service, Mark) == 300


def test_conflicting_duplicate_sessions_are_rejected(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    week = school.week_marks(1)
    dup = week.iloc[[0]].assign(mark="O" if week.iloc[0]["mark"] != "O" else "/")
    data = pd.concat([week, dup]).to_csv(index=False).encode()
    response = upload(service, "registers", SCHOOL, data, "dup.csv")
    assert response.status_code == 422
    assert count(service, Mark) == 0


def test_register_before_roster_is_refused_with_the_fix(service: Service, school) -> None:
    response = upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv")
    assert response.status_code == 409
    assert "roster" in response.json()["detail"]["fix"]


@pytest.mark.parametrize(
    ("data", "content_type", "filename"),
    [
        (b"%PDF-1.7 binary", "application/pdf", "register.pdf"),
        (b"PK\x03\x04 zipped workbook", "text/csv", "register.csv"),
        (b"upn,date\x00\x00\x01", "text/csv", "register.csv"),
        (b"upn,date,session,mark\n", "image/png", "register.png"),
    ],
)
def test_not_csv_is_415(service: Service, school, data, content_type, filename) -> None:
    load_weeks(service, school, range(1, 1))
    response = service.client.post(
        f"/v1/schools/{SCHOOL}/registers",
        files={"file": (filename, io.BytesIO(data), content_type)},
        headers=service.auth("school"),
    )
    assert response.status_code == 415, response.text
    assert "CSV" in response.json()["detail"]["fix"]


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"\xef\xbb\xbf \t\n"])
def test_empty_file_is_a_clear_422(service: Service, school, data: bytes) -> None:
    load_weeks(service, school, range(1, 1))
    for kind in ("registers", "roster"):
        response = upload(service, kind, SCHOOL, data, "empty.csv")
        assert response.status_code == 422
        assert response.json()["detail"]["message"] == "empty.csv is empty; nothing was stored"


def test_windows_1252_and_bom_files_are_read(service: Service, school) -> None:
    roster = school.roster.copy()
    roster.loc[0, "surname"] = "Zoë O’Neill"
    response = upload(
        service, "roster", SCHOOL, roster.to_csv(index=False).encode("cp1252"), "roster.csv"
    )
    assert response.status_code == 200, response.text
    response = upload(
        service, "registers", SCHOOL, b"\xef\xbb\xbf" + school.week_csv(1), "2024-09-02.csv"
    )
    assert response.status_code == 200, response.text
    with service.db.read_session() as session:
        assert session.get(Pupil, (SCHOOL, school.upns[0])).surname == "Zoë O’Neill"


def test_raw_csv_body_is_accepted_and_path_parts_of_names_dropped(service: Service, school):
    load_weeks(service, school, range(1, 1))
    response = service.client.post(
        f"/v1/schools/{SCHOOL}/registers",
        params={"filename": "../../etc/C:\\evil\\2024-09-02.csv"},
        content=school.week_csv(1),
        headers={**service.auth("school"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "2024-09-02.csv"
    with service.db.read_session() as session:
        names = session.scalars(select(Upload.filename)).all()
    assert all("/" not in n and "\\" not in n for n in names)


def test_sql_and_html_in_fields_are_stored_as_text(service: Service, school) -> None:
    roster = school.roster.copy()
    roster.loc[0, "forename"] = "Robert'); DROP TABLE pupils;--"
    roster.loc[1, "surname"] = "<script>alert(1)</script>"
    roster.loc[2, "forename"] = '=HYPERLINK("http://x")'
    response = upload(service, "roster", SCHOOL, roster.to_csv(index=False).encode(), "r.csv")
    assert response.status_code == 200, response.text
    upload(service, "registers", SCHOOL, school.week_csv(1), "w1.csv")
    risk = service.client.get(
        f"/v1/schools/{SCHOOL}/risk?limit=100", headers=service.auth("school")
    )
    names = {p["name"] for p in risk.json()["pupils"]}
    assert "Robert'); DROP TABLE pupils;-- Khan0" in names
    assert any("<script>" in n for n in names)  # JSON carries it verbatim; pages must escape
    assert count(service, Pupil) == 30
    csv_text = service.client.get(
        f"/v1/schools/{SCHOOL}/risk?format=csv", headers=service.auth("school")
    ).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text  # a spreadsheet will not run it
    assert ",=HYPERLINK" not in csv_text


def test_roster_contradicting_the_stored_one_is_refused_until_confirmed(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 1))
    changed = school.roster.copy()
    changed.loc[3, "date_of_birth"] = "2010-01-01"
    changed.loc[4, "year_group"] = 6  # an ordinary update
    data = changed.to_csv(index=False).encode()
    response = upload(service, "roster", SCHOOL, data, "roster2.csv")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["contradictions"][0]["row"] == 5
    assert detail["contradictions"][0]["column"] == "date_of_birth"
    with service.db.read_session() as session:
        assert str(session.get(Pupil, (SCHOOL, school.upns[3])).date_of_birth) != "2010-01-01"
    confirmed = service.client.post(
        f"/v1/schools/{SCHOOL}/roster?accept_changes=true",
        files={"file": ("roster2.csv", io.BytesIO(data), "text/csv")},
        headers=service.auth("school"),
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["updated"] == 2


def test_upload_for_another_school_is_forbidden(service: Service, school) -> None:
    response = upload(service, "roster", OTHER_SCHOOL, school.roster_csv(), "r.csv")
    assert response.status_code == 403
    for role in ("practitioner", "analyst", "admin"):
        assert (
            upload(service, "roster", SCHOOL, school.roster_csv(), "r.csv", role).status_code == 403
        )
    assert count(service, Pupil) == 0


def test_two_uploads_at_the_same_moment_are_applied_one_after_the_other(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 2))
    barrier = threading.Barrier(3)
    results_list = []

    def send_collect(week: int) -> None:
        barrier.wait()
        results_list.append(
            upload(service, "registers", SCHOOL, school.week_csv(week), f"w{week}.csv")
        )

    threads = [threading.Thread(target=send_collect, args=(w,)) for w in (2, 3, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results_list] == [200, 200, 200]
    assert sorted(r.json()["changed"] for r in results_list) == [False, True, True]
    with service.db.read_session() as session:
        row = session.get(Trajectory, (SCHOOL, "2024/25"))
    assert row.weeks == 3
    assert count(service, Mark) == 900


def test_failure_half_way_leaves_nothing_behind(service: Service, school, monkeypatch) -> None:
    load_weeks(service, school, range(1, 2))
    before = {t.__name__: count(service, t) for t in (Mark, Score, Upload, Trajectory)}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while scoring")

    monkeypatch.setattr(rescoring, "rescore_school", broken)
    # A client that shows the answer the app gives, instead of re-raising the server's error.
    client = TestClient(service.client.app, raise_server_exceptions=False)
    response = client.post(
        f"/v1/schools/{SCHOOL}/registers",
        files={"file": ("w2.csv", io.BytesIO(school.week_csv(2)), "text/csv")},
        headers=service.auth("school"),
    )
    assert response.status_code == 500
    assert "nothing was changed" in response.json()["detail"]["message"]
    after = {t.__name__: count(service, t) for t in (Mark, Score, Upload, Trajectory)}
    assert after == before
    with service.db.read_session() as session:
        assert session.get(Trajectory, (SCHOOL, "2024/25")).weeks == 1


def test_malformed_csv_and_wrong_encoding_get_clear_answers(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    missing_column = b"upn,date,mark\nY380345619000,2024-09-02,/\n"
    response = upload(service, "registers", SCHOOL, missing_column, "w1.csv")
    assert response.status_code == 422
    report = response.json()["detail"]["report"]
    assert any("session" in (e["message"] + (e["column"] or "")).lower() for e in report["errors"])
    # Excel's "Unicode text" is UTF-16: refused as a type the service does not read (415), and
    # the answer says how to save the file instead.
    utf16 = school.week_csv(1).decode().encode("utf-16")
    response = upload(service, "registers", SCHOOL, utf16, "w1.csv")
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "UTF-16" in detail["message"] and "CSV UTF-8" in detail["fix"]
    assert count(service, Mark) == 0


def test_renamed_pupil_shows_at_once_in_the_risk_list(service: Service, school) -> None:
    load_weeks(service, school, range(1, 3))
    get = lambda: service.client.get(  # noqa: E731
        f"/v1/schools/{SCHOOL}/risk", params={"limit": 100}, headers=service.auth("school")
    ).json()
    assert "Amira Khan0" in {p["name"] for p in get()["pupils"]}  # rendered, now cached
    renamed = school.roster.copy()
    renamed.loc[0, "forename"] = "Amina"
    upload(service, "roster", SCHOOL, renamed.to_csv(index=False).encode(), "roster.csv")
    names = {p["name"] for p in get()["pupils"]}
    assert "Amina Khan0" in names and "Amira Khan0" not in names


# --- bad input (issue 4 §4) -------------------------------------------------------------------


def test_a_register_for_a_school_the_key_may_not_touch_is_403_and_stores_nothing(
    service: Service,
) -> None:
    other = make_school(OTHER_SCHOOL)
    roster = upload(service, "roster", OTHER_SCHOOL, other.roster_csv(), "r.csv", "other_school")
    assert roster.status_code == 200
    before = (count(service, Mark), count(service, Upload), count(service, Score))
    for role in ("school", "practitioner", "analyst", "admin"):
        response = upload(service, "registers", OTHER_SCHOOL, other.week_csv(1), "w1.csv", role)
        assert response.status_code == 403, role
        assert "may not upload" in response.json()["detail"]["message"]
    assert (count(service, Mark), count(service, Upload), count(service, Score)) == before


def test_conflicting_duplicate_sessions_name_the_rows_column_and_both_marks(
    service: Service, school
) -> None:
    load_weeks(service, school, range(1, 1))
    week = school.week_marks(1)
    assert week.iloc[0]["mark"] == "/"  # pupil 0, Monday AM: present
    repeat = week.iloc[[0]].assign(mark="O")
    data = pd.concat([week, repeat]).to_csv(index=False).encode()
    response = upload(service, "registers", SCHOOL, data, "dup.csv")
    assert response.status_code == 422
    errors = response.json()["detail"]["report"]["errors"]
    assert len(errors) == 1
    error = errors[0]
    assert error["kind"] == "conflicting_marks"
    assert error["row"] == len(week) + 2  # the repeat, after the header and every other row
    assert error["column"] == "mark" and error["value"] == "O"
    assert "at row 2" in error["message"] and 'mark "/"' in error["message"]
    assert count(service, Mark) == 0


def _unbalanced_quotes(school) -> bytes:
    lines = school.week_csv(1).decode().splitlines()
    upn, rest = lines[3].split(",", 1)
    lines[3] = f'"{upn},{rest}'  # a quote opened on row 4 and never closed
    return "\n".join(lines).encode()


def test_unbalanced_quotes_are_a_422_that_stores_nothing(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    response = upload(service, "registers", SCHOOL, _unbalanced_quotes(school), "quotes.csv")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["message"] == "quotes.csv has errors; nothing was stored"
    errors = detail["report"]["errors"]
    assert len(errors) == 1 and errors[0]["file"] == "quotes.csv"
    assert "remove the double quote, or close it" in errors[0]["fix"]
    assert count(service, Mark) == 0 and count(service, Upload) == 1  # the roster only


def test_unbalanced_quotes_name_the_row_where_the_quote_opens(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    response = upload(service, "registers", SCHOOL, _unbalanced_quotes(school), "quotes.csv")
    error = response.json()["detail"]["report"]["errors"][0]
    assert error["row"] == 4
    assert "quote" in error["message"] and "C error" not in error["message"]
    assert error["kind"] == "unclosed_quote" and error["column"] == "upn"
    assert error["value"].startswith(f'"{school.upns[0]},2024-09-03,AM,')  # the row as written


@pytest.mark.parametrize("kind", ["registers", "roster"])
def test_a_header_only_file_is_a_clear_422(service: Service, school, kind: str) -> None:
    load_weeks(service, school, range(1, 1))
    header = (school.week_csv(1) if kind == "registers" else school.roster_csv()).split(b"\n")[0]
    response = upload(service, kind, SCHOOL, header + b"\r\n", "header.csv")
    assert response.status_code == 422
    errors = response.json()["detail"]["report"]["errors"]
    assert [e["kind"] for e in errors] == ["no_rows"]
    assert "no data rows" in errors[0]["message"]
    assert count(service, Mark) == 0 and count(service, Upload) == 1  # the roster only


def test_a_wide_register_is_stored_like_the_long_one(service: Service, school) -> None:
    load_weeks(service, school, range(1, 1))
    long = school.week_marks(1)
    wide = long.pivot(index="upn", columns=["date", "session"], values="mark")
    wide.columns = [f"{date} {session}" for date, session in wide.columns]
    wide = wide.reindex(school.upns).reset_index()
    response = upload(service, "registers", SCHOOL, wide.to_csv(index=False).encode(), "wide.csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["marks_new"], body["pupils"], body["weeks_covered"]) == (300, 30, ["2024-09-02"])
    assert body["scoring"]["scored"] is True
    # The same marks in long form change nothing: the two layouts meant the same.
    again = upload(service, "registers", SCHOOL, school.week_csv(1), "long.csv")
    assert again.json()["changed"] is False and again.json()["marks_unchanged"] == 300


@pytest.mark.parametrize("reader_checks", [True, False])
def test_an_over_long_forename_is_a_row_level_422_not_a_500(
    service: Service, school, monkeypatch, reader_checks: bool
) -> None:
    if not reader_checks:  # the service's own guard, should the reader not check a field
        import features.validation

        monkeypatch.setattr(features.validation, "ROSTER_FIELD_LIMITS", {})
    roster = school.roster.copy()
    roster.loc[2, "forename"] = "A" * 150
    client = TestClient(service.client.app, raise_server_exceptions=False)
    response = client.post(
        f"/v1/schools/{SCHOOL}/roster",
        files={"file": ("r.csv", roster.to_csv(index=False).encode(), "text/csv")},
        headers=service.auth("school"),
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]["report"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(4, "forename")]
    assert "150 characters" in errors[0]["message"] and "100" in errors[0]["message"]
    assert count(service, Pupil) == 0
