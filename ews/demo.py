"""``ews demo``: from nothing to a served risk list on one machine.

1. Simulate the default authority (``ews simulate``) if the data directory has none.
2. Train and promote a model if the registry has no champion (the training package's own
   functions; a lighter configuration than ``ews train`` — every 4th snapshot week, the default
   feature set only — so a fresh machine is served within minutes).
3. Start the service (uvicorn, in this process) and, over HTTP with an admin key, register the
   schools and create one API key per role (and an upload key per school).
4. Upload the data OVER HTTP, THROUGH THE UPLOAD PATH SCHOOLS USE, each school with its own
   key: last year's roster and registers as history, then this year's roster and weekly
   register files up to the end of the autumn term. "Now" is therefore mid-December of the last
   simulated year: the risk list is an early warning for the rest of the year.
5. Print the web page's URL and the keys, and keep serving (``--no-serve`` stops here).

This module is the composition root: it may import both ``training`` and ``serving``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, Any

import typer

DEMO_KEY_PREFIX = "demo: "


def demo(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (EWS_DATA_DIR).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to serve on (EWS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (EWS_PORT).")] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Load this year's weekly registers up to this date (YYYY-MM-DD); "
            "default: the end of the autumn term."
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Keep serving once loaded (default) or stop."),
    ] = True,
) -> None:
    """Simulate, train, start the service and upload the registers to it over HTTP with each
    school's own key, then keep serving: a risk list in minutes on a fresh machine."""
    from serving.settings import ServingSettings

    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    settings = ServingSettings(**overrides)
    started = time.perf_counter()

    def step(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:6.1f}s] {message}")

    authority = ensure_authority(settings.authority_dir, step)
    ensure_champion(settings, authority, step)
    run_demo_service(
        settings,
        authority,
        step,
        host=host or settings.host,
        port=port or settings.port,
        until=dt.date.fromisoformat(until) if until else None,
        serve=serve,
    )


def ensure_authority(directory: Path, step: Any) -> Path:
    """The simulated authority with weekly register files, simulated if missing."""
    if (directory / "marks.parquet").exists() and (directory / "registers").is_dir():
        step(f"using the simulated authority in {directory}")
        return directory
    from simulator import SimulationConfig, simulate_authority, write_authority

    step("simulating the default authority (ews simulate --register-files)")
    authority = simulate_authority(SimulationConfig())
    counts = write_authority(authority, directory, register_files=True)
    step(f"simulated {counts['schools']} schools, {counts['marks']:,} marks -> {directory}")
    return directory


def ensure_champion(settings: Any, authority: Path, step: Any) -> None:
    """Train, register and promote a model unless the registry already has a champion."""
    from training.registry import configure_mlflow

    uri = configure_mlflow(settings.data_dir)
    from serving.modelstore import MlflowModelSource

    source = MlflowModelSource(uri, settings.model_name, settings.model_alias)
    version = source.resolve()
    if version is not None:
        step(f"champion: {settings.model_name} version {version}")
        return
    from training.config import load_config
    from training.data import load_dataset
    from training.pipeline import run
    from training.registry import log_run, promote

    config = load_config()
    step(
        "no champion yet: training (every 4th snapshot week, "
        f"feature set '{config.run.feature_set}')"
    )
    config = config.model_copy(
        update={
            "data": config.data.model_copy(update={"train_every": 4}),
            "run": config.run.model_copy(update={"compare_feature_sets": [config.run.feature_set]}),
        }
    )
    snapshots = load_dataset(authority)
    result = run(snapshots, config)
    logged = log_run(
        result,
        config,
        data_dir=settings.data_dir,
        source_dir=authority,
        model_name=settings.model_name,
    )
    step(f"registered {logged.model_name} version {logged.version} (challenger)")
    outcome = promote(settings.model_name, logged.version)
    if not outcome.promoted:
        typer.echo(outcome.message)
        reason = "ews demo: simulated data, for demonstration only (see the failed gates)"
        outcome = promote(settings.model_name, logged.version, accept_risk=reason)
    step(outcome.message)


def _history_files(authority: Path, year: str) -> dict[int, tuple[bytes, bytes]]:
    """Last year's roster and whole-year register (long CSV) per school, from the simulator's
    tables, as a school's MIS would export them."""
    import pandas as pd

    from features.calendar import academic_year_bounds

    pupils = pd.read_csv(authority / "pupils.csv", dtype={"upn": str, "academic_year": str})
    marks = pd.read_parquet(authority / "marks.parquet")
    start, end = academic_year_bounds(year)
    marks = marks[(marks["date"] >= pd.Timestamp(start)) & (marks["date"] <= pd.Timestamp(end))]
    from features.schema import ROSTER_COLUMNS

    out = {}
    for urn, school_marks in marks.groupby("school_urn", observed=True):
        roster = pupils[(pupils["academic_year"] == year) & (pupils["school_urn"] == urn)]
        register = pd.DataFrame(
            {
                "upn": school_marks["upn"].astype(str),
                "date": school_marks["date"].dt.strftime("%Y-%m-%d"),
                "session": school_marks["session"].astype(str),
                "mark": school_marks["code"].astype(str),
            }
        )
        out[int(urn)] = (
            roster[ROSTER_COLUMNS].to_csv(index=False).encode(),
            register.to_csv(index=False).encode(),
        )
    return out


class HeldSource:
    """A model source that answers "no champion" until released.

    The demo loads last year and the first weeks of this year while the service has no model,
    so they are stored unscored — exactly what the service does without a model — and releases
    the champion for the last weeks, which are then scored as they arrive (the risk history of
    the pupil pages). Scoring every week would only make the demo slower."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.held = True

    def resolve(self) -> str | None:
        """``None`` while held, else what the real source says."""
        return None if self.held else self.source.resolve()

    def load(self, version: str) -> Any:
        """Load a version from the real source."""
        return self.source.load(version)


def run_demo_service(
    settings: Any,
    authority: Path,
    step: Any,
    *,
    host: str,
    port: int,
    until: dt.date | None = None,
    serve: bool = True,
    score_weeks: int = 6,
    model_source: Any = None,
) -> dict[str, tuple[str, str]]:
    """Start the service (uvicorn, this process), load it over HTTP, print how to use it and,
    with ``serve``, keep serving until interrupted. Returns ``{role: (key, scope)}``.

    uvicorn runs in the main thread (it handles Ctrl+C); the loading runs in a second thread as
    a school's client would, uploading with httpx and each school's own key."""
    import logging
    import threading

    from serving.app import create_app
    from serving.cli import make_server
    from serving.modelstore import MlflowModelSource

    admin_key = prepare_database(settings)
    source = HeldSource(
        model_source
        or MlflowModelSource(
            settings.resolved_tracking_uri, settings.model_name, settings.model_alias
        )
    )
    app = create_app(settings, model_source=source)
    server = make_server(app, host=host, port=port)
    url = f"http://{host}:{port}"
    outcome: dict[str, Any] = {}
    # While loading: not one log line per upload (the service's request line, the reader's
    # summary, the demo's own HTTP client); the steps say how far it has got.
    quiet = [logging.getLogger(name) for name in ("ews.serving", "features", "httpx")]

    def load() -> None:
        try:
            deadline = time.monotonic() + 120
            while not server.started:
                if server.should_exit or time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not start on {url}")
                time.sleep(0.05)
            for logger in quiet:
                logger.setLevel(logging.WARNING)
            try:
                outcome["keys"] = load_over_http(
                    url,
                    authority,
                    admin_key,
                    settings.resolved_database_url,
                    release=lambda: _release(source, app.state.holder),
                    step=step,
                    until=until,
                    score_weeks=score_weeks,
                )
            finally:
                for logger in quiet[:2]:  # the service's own lines are back once it serves
                    logger.setLevel(logging.NOTSET)
            print_how_to_use(url, outcome["keys"])
            if serve:
                step(f"serving on {url} (Ctrl+C to stop)")
        except BaseException as exc:  # reported by the main thread once the server stops
            outcome["error"] = exc
        finally:
            if (not serve or "error" in outcome) and not server.should_exit:
                outcome["stopped_by_loader"] = True
                server.should_exit = True

    loader = threading.Thread(target=load, name="ews-demo-load", daemon=True)
    loader.start()
    step(f"starting the service on {url}")
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn has said why (e.g. the port is taken)
    loader.join(timeout=30)
    if "keys" not in outcome and not outcome.get("stopped_by_loader"):  # Ctrl+C while loading
        typer.echo("Stopped before the data was loaded; what was loaded is kept: run ews demo "
                   "again to go on.")  # fmt: skip
        raise typer.Exit(130)
    if "error" in outcome:
        raise outcome["error"]
    keys: dict[str, tuple[str, str]] = outcome["keys"]
    return keys


def _release(source: HeldSource, holder: Any) -> Any:
    """Let the service load the champion now; every school is re-scored with it."""
    source.held = False
    holder.refresh()
    if holder.current is None:
        raise typer.BadParameter(f"no model to score with: {holder.reason}")
    return holder.current


def prepare_database(settings: Any) -> str:
    """Migrate the database, revoke the keys of an earlier demo run and create the admin key
    that registers the schools and the other keys over HTTP (as ``ews keys create`` would)."""
    from sqlalchemy import select

    from serving import auth
    from serving.db import Database, upgrade
    from serving.models import ApiKey

    url = settings.resolved_database_url
    upgrade(url)
    db = Database(url)
    try:
        with db.write() as session:
            # Keys of an earlier demo run are revoked: only the ones printed now work.
            for key in session.scalars(
                select(ApiKey).where(ApiKey.name.startswith(DEMO_KEY_PREFIX))
            ):
                auth.revoke_key(session, key.id)
            admin = auth.create_key(session, role="admin", name=f"{DEMO_KEY_PREFIX}admin")
    finally:
        db.dispose()
    return admin.key


def print_how_to_use(url: str, keys: dict[str, tuple[str, str]]) -> None:
    """The web page, the API and the keys (shown once)."""
    school_key, scope = keys["school"]
    urn = scope.split()[-1]
    typer.echo("")
    typer.echo(f"Risk lists are ready at {url}")
    typer.echo(f"  Web pages: open {url}/login, paste the school key below, and the risk list is")
    typer.echo(f"             {url}/schools/{urn}")
    typer.echo(f"  API:       {url}/docs")
    typer.echo("Keys, one per role (shown once; ews keys list shows the rest):")
    for role, (key, key_scope) in keys.items():
        typer.echo(f"  {role:<13} {key_scope:<34} {key}")
    typer.echo("")
    typer.echo(f'  curl -H "Authorization: Bearer {school_key}" {url}/v1/schools/{urn}/risk')
    typer.echo("Every school also has its own upload key (ews keys list).")


def load_over_http(
    url: str,
    authority: Path,
    admin_key: str,
    database_url: str,
    *,
    release: Any,
    step: Any,
    until: dt.date | None = None,
    score_weeks: int = 6,
) -> dict[str, tuple[str, str]]:
    """Register the schools and keys, and upload history and this year's weeks over HTTP, as
    the schools themselves would (``POST /v1/schools/{urn}/roster`` and ``…/registers`` with the
    school's own key). ``release()`` gives the service its model before the last
    ``score_weeks - 1`` weeks (see :class:`HeldSource`). Returns ``{role: (key, scope)}``."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import pandas as pd

    from features.calendar import academic_year_of, previous_academic_year

    schools = pd.read_csv(authority / "schools.csv")
    urns = [int(u) for u in schools.sort_values(["phase", "school_urn"])["school_urn"]]
    register_root = authority / "registers"
    weekly = {urn: sorted((register_root / str(urn)).glob("????-??-??.csv")) for urn in urns}
    first_monday = dt.date.fromisoformat(weekly[urns[0]][0].stem)
    year = academic_year_of(first_monday)
    cutoff = until or dt.date(first_monday.year, 12, 24)  # the end of the autumn term
    previous = previous_academic_year(year)
    loaded_history, loaded_until = _already_loaded(database_url, previous, year)
    history = _history_files(authority, previous) if len(loaded_history) < len(urns) else {}

    with httpx.Client(base_url=url, timeout=600) as client:

        def call(method: str, path: str, key: str, expect: tuple[int, ...], **kw: Any) -> Any:
            response = client.request(
                method, path, headers={"Authorization": f"Bearer {key}"}, **kw
            )
            if response.status_code not in expect:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json()

        for row in schools.itertuples(index=False):
            body = {"urn": int(row.school_urn), "name": row.name, "phase": row.phase, "la": row.la}
            call("POST", "/v1/schools", admin_key, (201, 409), json=body)

        def new_key(role: str, name: str, schools: list[int] | None = None) -> str:
            body = {"role": role, "schools": schools or [], "name": DEMO_KEY_PREFIX + name}
            created: str = call("POST", "/v1/keys", admin_key, (201,), json=body)["key"]
            return created

        uploaders = {urn: new_key("school", f"upload {urn}", [urn]) for urn in urns}
        practitioner = new_key("practitioner", "practitioner", urns[:3])
        analyst = new_key("analyst", "analyst")
        step(f"registered {len(urns)} schools and their keys over HTTP ({url})")

        def send(urn: int, kind: str, name: str, data: bytes) -> None:
            call(
                "POST",
                f"/v1/schools/{urn}/{kind}",
                uploaders[urn],
                (200,),
                files={"file": (name, data, "text/csv")},
            )

        pending = {
            urn: [
                path
                for path in weekly[urn]
                if dt.date.fromisoformat(path.stem) <= cutoff
                and (
                    urn not in loaded_until or dt.date.fromisoformat(path.stem) > loaded_until[urn]
                )
            ]
            for urn in urns
        }
        # The last score_weeks - 1 weeks are sent once the model is there; the week before them
        # is scored when it arrives (every school is re-scored with a new model).
        split = {urn: max(0, len(pending[urn]) - (score_weeks - 1)) for urn in urns}

        def unscored_part(urn: int) -> int:
            """One school's uploads in the order a school sends them: last year's roster and
            registers (history), this year's roster, the weeks before the scored ones."""
            if urn not in loaded_history and urn in history:
                roster, register = history[urn]
                send(urn, "roster", "roster.csv", roster)
                send(urn, "registers", f"{previous[:4]}-registers.csv", register)
            send(
                urn, "roster", "roster.csv", (register_root / str(urn) / "roster.csv").read_bytes()
            )
            for path in pending[urn][: split[urn]]:
                send(urn, "registers", path.name, path.read_bytes())
            return split[urn]

        def scored_part(urn: int) -> int:
            for path in pending[urn][split[urn] :]:
                send(urn, "registers", path.name, path.read_bytes())
            return len(pending[urn]) - split[urn]

        step(
            f"uploading {previous} (history) and {year} week by week up to {cutoff:%d %B %Y} "
            "over HTTP, each school with its own key"
        )
        # Two schools at a time: one is parsed and scored while the other is written (2 cores).
        with ThreadPoolExecutor(max_workers=2) as pool:
            unscored = sum(pool.map(unscored_part, urns))
        model = release()
        step(f"champion {model.name} version {model.version} loaded; every school scored")
        with ThreadPoolExecutor(max_workers=2) as pool:
            scored = sum(pool.map(scored_part, urns))
        if unscored + scored:
            step(
                f"{unscored + scored} weekly uploads applied; the last {score_weeks} weeks of "
                f"each school scored with {model.name} version {model.version}"
            )
        else:
            step("every weekly file up to that date was loaded before: nothing new to upload")
        school_name = schools.set_index("school_urn").loc[urns[0], "name"]
        shown = call("GET", f"/v1/schools/{urns[0]}/risk", uploaders[urns[0]], (200,))
        step(f"risk list of {school_name} served: {shown['total']} pupils as of {shown['as_of']}")
    return {
        "school": (uploaders[urns[0]], f"{school_name[:24]} {urns[0]}"),
        "practitioner": (practitioner, "schools " + ",".join(map(str, urns[:3]))),
        "analyst": (analyst, "all schools, model page"),
        "admin": (admin_key, "keys and schools"),
    }


def _already_loaded(
    database_url: str, previous: str, year: str
) -> tuple[set[int], dict[int, dt.date]]:
    """What an earlier demo run loaded: the schools with last year's history, and the last week
    loaded this year per school (read from the store, so a re-run sends only what is new)."""
    from sqlalchemy import select

    from serving.db import Database
    from serving.models import Trajectory

    db = Database(database_url)
    try:
        with db.read_session() as session:
            history = set(
                session.scalars(
                    select(Trajectory.school_urn).where(Trajectory.academic_year == previous)
                )
            )
            until = {
                t.school_urn: t.last_week_start
                for t in session.scalars(select(Trajectory).where(Trajectory.academic_year == year))
            }
    finally:
        db.dispose()
    return history, until


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``ews`` command line."""
    app.command("demo")(demo)
