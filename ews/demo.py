"""``ews demo``: from nothing to a served risk list on one machine.

1. Simulate the default authority (``ews simulate``) if the data directory has none.
2. Train and promote a model if the registry has no champion (the training package's own
   functions; a lighter configuration than ``ews train`` — every 4th snapshot week, the default
   feature set only — so a fresh machine is served within minutes).
3. Register the schools, create one API key per role (and an upload key per school).
4. Load the data THROUGH THE UPLOAD PATH SCHOOLS USE (the service's own roster and register
   upload functions): last year's roster and registers as history, then this year's roster and
   weekly register files up to the end of the autumn term. "Now" is therefore mid-December of
   the last simulated year: the risk list is an early warning for the rest of the year.
5. Print the URL and the keys, and serve.

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
        bool, typer.Option("--serve/--no-serve", help="Serve once loaded (default) or stop.")
    ] = True,
) -> None:
    """Simulate, train, load the registers through the upload path and serve: a risk list in
    minutes on a fresh machine."""
    from serving.settings import ServingSettings

    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    settings = ServingSettings(**overrides)
    started = time.perf_counter()

    def step(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:6.1f}s] {message}")

    authority = ensure_authority(settings.authority_dir, step)
    ensure_champion(settings, authority, step)
    keys = load_service(
        settings, authority, step, until=dt.date.fromisoformat(until) if until else None
    )
    url = f"http://{host or settings.host}:{port or settings.port}"
    typer.echo("")
    typer.echo(f"Risk lists are ready. Open {url}/docs (API) — keys, one per role:")
    for role, (key, scope) in keys.items():
        typer.echo(f"  {role:<13} {scope:<34} {key}")
    first = keys["school"][1].split()[-1]
    typer.echo("")
    typer.echo(
        f'  curl -H "Authorization: Bearer {keys["school"][0]}" {url}/v1/schools/{first}/risk'
    )
    typer.echo("Every school also has its own upload key (ews keys list). Keys are shown once.")
    if serve:
        from serving.cli import run_server

        step(f"serving on {url} (Ctrl+C to stop)")
        run_server(settings, host=host or settings.host, port=port or settings.port)


def ensure_authority(directory: Path, step: Any) -> Path:
    """The simulated authority with weekly register files, simulated if missing."""
    if (directory / "marks.parquet").exists() and (directory / "registers").is_dir():
        step(f"using the simulated authority in {directory}")
        return directory
    from features.simulate import SimulationConfig, simulate_authority, write_authority

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

    step("no champion yet: training (every 4th snapshot week, feature set 'attendance')")
    config = load_config()
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


def load_service(
    settings: Any,
    authority: Path,
    step: Any,
    *,
    until: dt.date | None = None,
    score_weeks: int = 6,
) -> dict[str, tuple[str, str]]:
    """Register schools and keys, and load history and this year's weeks through the upload
    path. The last ``score_weeks`` weeks of each school are scored as they arrive (the risk
    history the pupil pages show); earlier weeks and last year are stored unscored, as the
    service does without a model. Returns ``{role: (key, scope)}``."""
    import pandas as pd
    from sqlalchemy import select

    from features.calendar import academic_year_of, previous_academic_year
    from serving import auth
    from serving.db import Database, upgrade
    from serving.models import ApiKey, School, Trajectory
    from serving.modelstore import MlflowModelSource, ModelHolder
    from serving.pipeline import ScoringConfig
    from serving.routes.schools import register_upload, roster_upload
    from serving.store import UploadRejected

    url = settings.resolved_database_url
    upgrade(url)
    db = Database(url)
    schools = pd.read_csv(authority / "schools.csv")
    with db.write() as session:
        for row in schools.itertuples(index=False):
            if session.get(School, int(row.school_urn)) is None:
                session.add(
                    School(urn=int(row.school_urn), name=row.name, phase=row.phase, la=row.la)
                )
        # Keys of an earlier demo run are revoked: only the ones printed now work.
        for key in session.scalars(select(ApiKey).where(ApiKey.name.startswith(DEMO_KEY_PREFIX))):
            auth.revoke_key(session, key.id)
    urns = [int(u) for u in schools.sort_values(["phase", "school_urn"])["school_urn"]]
    with db.write() as session:
        uploaders = {
            urn: auth.create_key(
                session, role="school", schools=[urn], name=f"{DEMO_KEY_PREFIX}upload {urn}"
            )
            for urn in urns
        }
        shown_school = uploaders[urns[0]]
        practitioner = auth.create_key(
            session, role="practitioner", schools=urns[:3], name=f"{DEMO_KEY_PREFIX}practitioner"
        )
        analyst = auth.create_key(session, role="analyst", name=f"{DEMO_KEY_PREFIX}analyst")
        admin = auth.create_key(session, role="admin", name=f"{DEMO_KEY_PREFIX}admin")
    principals = {}
    with db.read_session() as session:
        for urn, created in uploaders.items():
            principals[urn] = auth.authenticate(session, created.key)

    holder = ModelHolder(
        MlflowModelSource(settings.resolved_tracking_uri, settings.model_name, settings.model_alias)
    )
    holder.refresh()
    model = holder.current
    if model is None:
        raise typer.BadParameter(f"no model to score with: {holder.reason}")
    scoring = ScoringConfig(
        settings.high_risk_threshold, settings.medium_risk_threshold, settings.emerging_below
    )
    register_root = authority / "registers"
    weekly = {urn: sorted((register_root / str(urn)).glob("????-??-??.csv")) for urn in urns}
    first_monday = dt.date.fromisoformat(weekly[urns[0]][0].stem)
    year = academic_year_of(first_monday)
    cutoff = until or dt.date(first_monday.year, 12, 24)  # the end of the autumn term
    previous = previous_academic_year(year)

    with db.read_session() as session:
        loaded_history = set(
            session.scalars(
                select(Trajectory.school_urn).where(Trajectory.academic_year == previous)
            )
        )
        current_rows = {
            t.school_urn: t.last_week_start
            for t in session.scalars(select(Trajectory).where(Trajectory.academic_year == year))
        }
    history = _history_files(authority, previous) if len(loaded_history) < len(urns) else {}
    step(
        f"loading {previous} (history) and {year} week by week up to {cutoff:%d %B %Y} "
        "through the upload path"
    )

    def load_school(urn: int) -> int:
        """One school's uploads, in the order a school would send them."""
        principal = principals[urn]
        if urn not in loaded_history and urn in history:
            # Last year is history, not a risk list: stored without scoring (model=None is
            # exactly what the service does when it has no model).
            roster, register = history[urn]
            roster_upload(db, principal, urn, roster, "roster.csv", None, scoring)
            name = f"{previous[:4]}-registers.csv"
            register_upload(db, principal, urn, register, name, None, scoring)
        roster = (register_root / str(urn) / "roster.csv").read_bytes()
        roster_upload(db, principal, urn, roster, "roster.csv", None, scoring)
        done_until = current_rows.get(urn)
        pending = [
            path
            for path in weekly[urn]
            if dt.date.fromisoformat(path.stem) <= cutoff
            and (done_until is None or dt.date.fromisoformat(path.stem) > done_until)
        ]
        applied = 0
        for i, path in enumerate(pending):
            # Scored weeks give the pupil pages their risk history; the last one the list.
            week_model = model if i >= len(pending) - score_weeks else None
            try:
                register_upload(
                    db, principal, urn, path.read_bytes(), path.name, week_model, scoring
                )
            except UploadRejected as exc:
                raise typer.BadParameter(f"{path}: {exc.body}") from None
            applied += 1
        return applied

    # Two schools at a time: one parses and scores while the other writes (2-core machine).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        uploads = sum(pool.map(load_school, urns))
    step(
        f"{uploads} weekly uploads applied; the last {score_weeks} of each school scored with "
        f"{model.name} version {model.version}"
    )
    db.dispose()
    school_name = schools.set_index("school_urn").loc[urns[0], "name"]
    return {
        "school": (shown_school.key, f"{school_name[:24]} {urns[0]}"),
        "practitioner": (practitioner.key, "schools " + ",".join(map(str, urns[:3]))),
        "analyst": (analyst.key, "all schools, model page"),
        "admin": (admin.key, "keys and schools"),
    }


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``ews`` command line."""
    app.command("demo")(demo)
