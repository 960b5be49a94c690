"""The champion alias moves while requests are in flight (real HTTP to uvicorn, both
databases): nothing fails, and the scores the risk lists show end on the new version."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import features.registers
from serving.app import create_app
from serving.db import Database
from serving.models import Score, ScoreRun
from tests.serving.helpers import (
    OTHER_SCHOOL,
    SCHOOL,
    FakeSource,
    Service,
    add_keys,
    live_server,
    make_school,
    make_settings,
    upload,
)


def test_uploads_in_flight_while_the_alias_moves_end_on_the_new_version(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FakeSource("1")
    app = create_app(make_settings(tmp_path), db=db, model_source=source)
    keys = add_keys(db)
    schools = {SCHOOL: make_school(SCHOOL), OTHER_SCHOOL: make_school(OTHER_SCHOOL)}
    roles = {SCHOOL: "school", OTHER_SCHOOL: "other_school"}
    with live_server(app) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            service = Service(client, db, source, keys)  # type: ignore[arg-type]
            for urn, school in schools.items():
                files = [("roster", school.roster_csv(), "r.csv")]
                files += [("registers", school.week_csv(w), f"w{w}.csv") for w in (1, 2)]
                for kind, data, name in files:
                    response = upload(service, kind, urn, data, name, roles[urn])
                    assert response.status_code == 200, response.text

        # Each school's week-3 upload is held while its file is being checked: it is in
        # flight, having arrived while version 1 was the champion.
        real_read = features.registers.read_register
        checking = threading.Semaphore(0)
        go_on = threading.Event()

        def held_read(*args, **kwargs):
            checking.release()
            assert go_on.wait(60)
            return real_read(*args, **kwargs)

        monkeypatch.setattr(features.registers, "read_register", held_read)
        answers: list[tuple[str, int]] = []
        stop_reading = threading.Event()

        def send_week(urn: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as client:
                response = client.post(
                    f"/v1/schools/{urn}/registers",
                    files={"file": ("w3.csv", schools[urn].week_csv(3), "text/csv")},
                    headers={"Authorization": f"Bearer {keys[roles[urn]]}"},
                )
            answers.append(("upload", response.status_code))

        def read_lists() -> None:  # risk lists read all the while
            with httpx.Client(base_url=base, timeout=60) as client:
                while not stop_reading.is_set():
                    for urn in schools:
                        response = client.get(
                            f"/v1/schools/{urn}/risk",
                            headers={"Authorization": f"Bearer {keys['analyst']}"},
                        )
                        answers.append(("read", response.status_code))

        uploads = [threading.Thread(target=send_week, args=(urn,)) for urn in schools]
        reader = threading.Thread(target=read_lists)
        reader.start()
        for thread in uploads:
            thread.start()
        for _ in schools:
            assert checking.acquire(timeout=60)

        # The alias moves; the service swaps the model and re-scores every school (in the
        # background check's thread, as the poll would).
        source.version = "2"
        holder = app.state.holder
        swapping = threading.Thread(target=holder.refresh)
        swapping.start()
        deadline = time.monotonic() + 30
        while holder.current.version != "2":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        go_on.set()  # the held uploads go on
        for thread in uploads:
            thread.join(120)
        swapping.join(120)
        stop_reading.set()
        reader.join(60)

    assert not swapping.is_alive() and all(not t.is_alive() for t in uploads)
    assert [a for a in answers if a[0] == "upload"] == [("upload", 200)] * 2
    reads = [code for kind, code in answers if kind == "read"]
    assert reads and set(reads) == {200}
    with db.read_session() as session:
        for urn in schools:
            run = session.scalar(
                select(ScoreRun).where(ScoreRun.school_urn == urn).order_by(ScoreRun.as_of.desc())
            )
            assert run.week == 3
            assert run.model_version == "2", urn
            versions = session.scalars(
                select(Score.model_version).where(Score.school_urn == urn, Score.as_of == run.as_of)
            ).all()
            assert len(versions) == 30 and set(versions) == {"2"}, urn
