"""What the service tests share: a fake model and registry, a small fictional school, the
app with one key per role, and a real uvicorn server. Fixtures that use them are in
:mod:`tests.serving.fixtures`; tests import from here, never from a ``conftest.py``."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from features.upn import make_upns
from serving.auth import Role, create_key
from serving.db import Database
from serving.models import School
from serving.modelstore import LoadedModel
from serving.settings import ServingSettings

POSTGRES_URL = os.environ.get(
    "EWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SCHOOL = 123456
OTHER_SCHOOL = 654321
FIRST_MONDAY = dt.date(2024, 9, 2)


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def emptied(url: str) -> str:
    """The migrated PostgreSQL database at ``url`` with every table emptied (ids from 1)."""
    from sqlalchemy import text

    from serving.models import Base

    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


# --- a fake model -----------------------------------------------------------------------------


class FakeRiskModel:
    """Risk rises with absence so far and over the last 4 weeks; one reason per driver."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.score(frame)["risk_probability"].to_numpy()

    def score(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        ytd = frame["absence_rate_ytd"].fillna(0).to_numpy(float)
        recent = frame["absence_rate_4w"].fillna(0).to_numpy(float)
        raw = -2.5 + 12 * ytd + 6 * recent + self.shift
        out = pd.DataFrame(index=frame.index)
        out["risk_probability"] = 1 / (1 + np.exp(-raw))
        out["risk_raw_score"] = raw
        out["reason_1"] = [f"Absence {r:.0%} over the last 4 weeks" for r in recent]
        out["reason_1_domain"] = "recent decline"
        out["reason_1_contribution"] = 6 * recent
        out["reason_2"] = np.where(ytd > 0, [f"Absence {r:.0%} so far" for r in ytd], None)
        out["reason_2_domain"] = "year to date"
        out["reason_2_contribution"] = 12 * ytd
        if "absence_rate_last_year" in frame.columns:  # history, where the store has one
            last = frame["absence_rate_last_year"].to_numpy(float)
            out["reason_3"] = [None if r != r else f"Absence {r:.0%} last year" for r in last]
            out["reason_3_domain"] = "last year"
            out["reason_3_contribution"] = np.nan_to_num(last)
        return out

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        return self.score(frame, top).drop(columns=["risk_probability", "risk_raw_score"])


class FakeSource:
    """A model registry in memory: ``version`` is what the alias points at."""

    def __init__(self, version: str | None = "1") -> None:
        self.version = version
        self.loads = 0

    def resolve(self) -> str | None:
        return self.version

    def load(self, version: str) -> LoadedModel:
        self.loads += 1
        return LoadedModel(
            name="attendance-risk",
            version=version,
            model=FakeRiskModel(shift=0.5 * (int(version) - 1)),
            info={"metadata": {"feature_set": "attendance"}, "metrics": {"test_auc": 0.8}},
        )


# --- a small fictional school ----------------------------------------------------------------


@dataclass
class SchoolData:
    """Roster and register files of a fictional school of ``n`` pupils."""

    urn: int
    upns: list[str]
    roster: pd.DataFrame

    def roster_csv(self) -> bytes:
        return self.roster.to_csv(index=False).encode()

    def week_marks(
        self, week: int, *, absent_every: int = 5, first_monday: dt.date = FIRST_MONDAY
    ) -> pd.DataFrame:
        """Long-form marks of school week ``week`` (1-based, from ``first_monday``: 2 Sept 2024
        unless told).

        Pupil i misses sessions more often the higher i is, and pupils in the last fifth
        decline from week 3 on (so risk lists have an order to check)."""
        monday = first_monday + dt.timedelta(weeks=week - 1)
        rows = []
        n = len(self.upns)
        for i, upn in enumerate(self.upns):
            for day in range(5):
                date = monday + dt.timedelta(days=day)
                for s, session in enumerate(("AM", "PM")):
                    slot = day * 2 + s
                    rate = i / n * 0.2 + (0.4 if (i >= 0.8 * n and week >= 3) else 0.0)
                    absent = ((slot * 7 + i * 3 + week) % 10) < rate * 10
                    code = "I" if absent and day < 3 else ("O" if absent else "/\\"[s])
                    rows.append(
                        {
                            "upn": upn,
                            "date": date.isoformat(),
                            "session": session,
                            "mark": code,
                            "minutes_late": "",
                        }
                    )
        return pd.DataFrame(rows)

    def week_csv(self, week: int, first_monday: dt.date = FIRST_MONDAY) -> bytes:
        return self.week_marks(week, first_monday=first_monday).to_csv(index=False).encode()


def make_school(urn: int = SCHOOL, n: int = 30) -> SchoolData:
    upns = list(make_upns(380, urn % 10000, 2019, np.arange(n)))
    forenames = ["Amira", "Ben", "Chloe", "Dev", "Ella", "Finn"]
    surnames = ["Khan", "Smith", "Jones", "Patel", "Brown", "Evans"]
    roster = pd.DataFrame(
        {
            "upn": upns,
            "forename": [forenames[i % 6] for i in range(n)],
            "surname": [f"{surnames[i % 6]}{i}" for i in range(n)],
            "date_of_birth": [
                (dt.date(2014, 9, 1) + dt.timedelta(days=11 * i)).isoformat() for i in range(n)
            ],
            "sex": ["F" if i % 2 else "M" for i in range(n)],
            "year_group": [5 + (i % 2) for i in range(n)],
            "fsm": [int(i % 4 == 0) for i in range(n)],
            "sen": ["N" if i % 5 else "K" for i in range(n)],
            "eal": [int(i % 3 == 0) for i in range(n)],
            "ethnicity": ["White" if i % 3 else "Asian" for i in range(n)],
            "entry_date": ["2020-09-01"] * n,
            "leaving_date": [""] * n,
        }
    )
    return SchoolData(urn, upns, roster)


# --- the app ----------------------------------------------------------------------------------


@dataclass
class Service:
    """A running app (TestClient) with one key per role."""

    client: TestClient
    db: Database
    source: FakeSource | None
    keys: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def make_settings(tmp_path: Path, **overrides: object) -> ServingSettings:
    return ServingSettings(
        data_dir=tmp_path,
        auto_migrate=False,
        model_poll_seconds=0,
        max_upload_bytes=2 * 1024 * 1024,
        **overrides,
    )


def add_keys(db: Database) -> dict[str, str]:
    """Create the schools and one key per role (plus a key of another school)."""
    with db.write() as session:
        session.add(School(urn=SCHOOL, name="Oak Lane Primary", phase="primary", la="Test LA"))
        session.add(
            School(urn=OTHER_SCHOOL, name="Elm Road Primary", phase="primary", la="Test LA")
        )
    keys = {}
    with db.write() as session:
        keys["admin"] = create_key(session, role=Role.ADMIN).key
        keys["school"] = create_key(session, role=Role.SCHOOL, schools=[SCHOOL]).key
        keys["other_school"] = create_key(session, role=Role.SCHOOL, schools=[OTHER_SCHOOL]).key
        keys["practitioner"] = create_key(
            session, role=Role.PRACTITIONER, schools=[SCHOOL, OTHER_SCHOOL]
        ).key
        keys["other_practitioner"] = create_key(
            session, role=Role.PRACTITIONER, schools=[OTHER_SCHOOL]
        ).key
        keys["analyst"] = create_key(session, role=Role.ANALYST).key
    return keys


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """``app`` under a real uvicorn on 127.0.0.1 (a free port, in a thread); yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def upload(service: Service, kind: str, urn: int, data: bytes, filename: str, role: str = "school"):
    """POST a file as a form, the way a browser or curl -F sends it."""
    return service.client.post(
        f"/v1/schools/{urn}/{kind}",
        files={"file": (filename, io.BytesIO(data), "text/csv")},
        headers=service.auth(role),
    )


def load_weeks(service: Service, school: SchoolData, weeks: range) -> None:
    """Upload the roster and the given weeks (asserting each is accepted)."""
    response = upload(service, "roster", school.urn, school.roster_csv(), "roster.csv")
    assert response.status_code == 200, response.text
    for week in weeks:
        response = upload(service, "registers", school.urn, school.week_csv(week), f"w{week}.csv")
        assert response.status_code == 200, response.text
