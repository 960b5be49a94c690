"""What reaches the log of a real server: `ews serve`'s own uvicorn set-up in a subprocess, its
stderr captured whole. Unexpected errors are answered with a 500 and an error id; the log holds
the error's type, id and frames but never its message (which may quote a UPN)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from tests.serving.helpers import SCHOOL, make_school

ROOT = Path(__file__).resolve().parents[2]
SECRET_UPN = "Y380345619000"  # what the failures below quote in their messages

SERVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    from serving import schools
    from serving.store import rescoring
    from serving.app import create_app
    from serving.cli import serve_app
    from serving.db import Database, upgrade
    from tests.serving.helpers import FakeSource, add_keys, make_settings

    data_dir, port, upn = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    url = f"sqlite:///{data_dir / 'ews.db'}"
    upgrade(url)
    db = Database(url)
    (data_dir / "keys.json").write_text(json.dumps(add_keys(db)))

    def lookup_fails(*args, **kwargs):
        raise KeyError(upn)

    def scoring_fails(*args, **kwargs):
        raise ValueError(f"pupil {upn} has no year group", upn)

    schools.latest_run = lookup_fails  # behind GET /v1/schools
    rescoring.rescore_school = scoring_fails  # behind a register upload, in the thread pool
    serve_app(create_app(make_settings(data_dir), db=db, model_source=FakeSource("1")),
              host="127.0.0.1", port=port)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unexpected_errors_reach_the_log_without_their_message(tmp_path: Path) -> None:
    port = _free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(tmp_path), str(port), SECRET_UPN],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            keys = json.loads((tmp_path / "keys.json").read_text())
            auth = {"Authorization": f"Bearer {keys['school']}"}
            with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
                listed = client.get("/v1/schools")
                school = make_school()
                roster = client.post(
                    f"/v1/schools/{SCHOOL}/roster",
                    files={"file": ("roster.csv", school.roster_csv(), "text/csv")},
                )
                assert roster.status_code == 200, roster.text
                week = client.post(
                    f"/v1/schools/{SCHOOL}/registers",
                    files={"file": ("w1.csv", school.week_csv(1), "text/csv")},
                )
                after = client.get("/v1/pupils/" + school.upns[0], params={"school": SCHOOL})
        finally:
            server.terminate()
            server.wait(timeout=20)
    log = log_path.read_text()

    error_ids = []
    for response in (listed, week):
        assert response.status_code == 500
        detail = response.json()["detail"]
        assert detail["message"] == "internal error; nothing was changed"
        assert SECRET_UPN not in response.text
        error_ids.append(detail["error_id"])
    # The failed upload stored nothing: the pupil page has no weeks.
    assert after.status_code == 200 and after.json()["weeks"] == []

    assert SECRET_UPN not in log
    assert "has no year group" not in log
    assert "Exception in ASGI application" not in log
    for error_id, kind, function in zip(
        error_ids, ("KeyError", "ValueError"), ("schools_in_scope", "_store_registers"), strict=True
    ):
        line = next(line for line in log.splitlines() if error_id in line)
        assert kind in line
        assert f"in {function}" in log  # the frames are there to find the fault
    # The request lines carry the route template and the 500.
    assert "GET /v1/schools 500" in log
    assert "POST /v1/schools/{urn}/registers 500" in log
