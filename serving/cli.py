"""``ews serve``, ``ews keys`` and ``ews audit``: run the service, manage API keys, read the
audit trail."""

from __future__ import annotations

from typing import Annotated, Any

import typer

keys_app = typer.Typer(
    help="Create, list and revoke API keys (stored hashed; a key is shown once).",
    no_args_is_help=True,
)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (EWS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (EWS_PORT).")] = None,
) -> None:
    """Serve the risk API and pages under uvicorn (default http://127.0.0.1:8000)."""
    from serving.settings import ServingSettings

    settings = ServingSettings()
    run_server(settings, host=host or settings.host, port=port or settings.port)


def run_server(settings: object, *, host: str, port: int) -> None:
    """Run the app for ``settings`` until interrupted (shared by ``serve`` and ``demo``)."""
    from serving.app import create_app

    serve_app(create_app(settings), host=host, port=port)  # type: ignore[arg-type]


def make_server(app: object, *, host: str, port: int) -> Any:
    """A uvicorn server for ``app`` with the service's logging (one place, so what reaches the
    log is what ``ews serve`` and ``ews demo`` run, and what the tests check)."""
    import logging
    import sys

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Request threads hand the GIL over every 0.5 ms instead of 5 ms: short requests waiting
    # behind a busy thread (parsing an upload, scoring) are answered sooner.
    sys.setswitchinterval(0.0005)
    # uvicorn's access log prints raw paths, which can hold a UPN: the app logs route templates.
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="info")  # type: ignore[arg-type]
    return uvicorn.Server(config)


def serve_app(app: object, *, host: str, port: int) -> None:
    """Serve ``app`` under uvicorn until interrupted."""
    server = make_server(app, host=host, port=port)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has said why
        raise SystemExit(3)


def _database():  # type: ignore[no-untyped-def]
    from serving.db import Database, upgrade
    from serving.settings import ServingSettings

    settings = ServingSettings()
    url = settings.resolved_database_url
    upgrade(url)
    return Database(url)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="school, practitioner, analyst or admin.")],
    school: Annotated[
        list[int] | None, typer.Option(help="URN the key may touch (repeat for several).")
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
) -> None:
    """Create a key and print it (the only time it is shown)."""
    from serving.auth import create_key

    db = _database()
    try:
        with db.write() as session:
            created = create_key(session, role=role, schools=school or [], name=name)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    scope = ", ".join(map(str, created.schools)) or "all schools"
    typer.echo(f"key {created.id} ({created.role.value}, {scope}): {created.key}")
    typer.echo("Store it now: only its hash is kept.", err=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (id, role, schools, created, revoked) — never the secrets."""
    from serving.auth import list_keys

    db = _database()
    with db.read_session() as session:
        rows = list_keys(session)
    db.dispose()
    typer.echo(f"{'id':>4}  {'role':<13} {'prefix':<11} {'schools':<24} {'created':<20} revoked")
    for r in rows:
        schools = ",".join(map(str, r["schools"])) or "all"
        created = f"{r['created_at']:%Y-%m-%d %H:%M}"
        revoked = f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "-"
        typer.echo(
            f"{r['id']:>4}  {r['role']:<13} {r['prefix']:<11} {schools:<24} {created:<20} {revoked}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (ews keys list).")],
) -> None:
    """Revoke a key: it stops working at once."""
    from serving.auth import revoke_key

    db = _database()
    with db.write() as session:
        found = revoke_key(session, key_id)
    db.dispose()
    if not found:
        typer.echo(f"error: no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")


def audit(
    school: Annotated[int | None, typer.Option(help="Only records of this school (URN).")] = None,
    upn: Annotated[str | None, typer.Option(help="Only records naming this pupil.")] = None,
    key: Annotated[
        int | None, typer.Option(help="Only this key's records (ews keys list).")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (pupil.read, risk_list.export, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many records, newest first.")] = 50,
) -> None:
    """Show the audit trail: who read or changed pupil-level data, what, when (newest first).

    It names pupils (UPNs): it is for the service's operator, like the database itself."""
    import json

    from sqlalchemy import select

    from serving.models import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if school is not None:
        query = query.where(AuditEvent.school_urn == school)
    if upn is not None:
        query = query.where(AuditEvent.upn == upn)
    if key is not None:
        query = query.where(AuditEvent.key_id == key)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    db = _database()
    with db.read_session() as session:
        events = session.scalars(query).all()
    db.dispose()
    typer.echo(
        f"{'id':>6}  {'at (UTC)':<19} {'key':>4} {'role':<13} {'action':<20} {'school':<7} "
        f"{'upn':<13} {'records':>7}  detail"
    )
    for e in events:
        detail = json.dumps(e.detail, separators=(",", ":")) if e.detail else ""
        typer.echo(
            f"{e.id:>6}  {e.at:%Y-%m-%d %H:%M:%S} {e.key_id if e.key_id is not None else '-':>4} "
            f"{e.role or '-':<13} {e.action:<20} {e.school_urn or '-':<7} {e.upn or '-':<13} "
            f"{e.records:>7}  {detail}"
        )


national_app = typer.Typer(
    help="England's attendance figures (the DfE's Pupil attendance in schools).",
    no_args_is_help=True,
)


@national_app.command("import")
def national_import(
    file: Annotated[str, typer.Argument(help="The DfE's Pupil attendance in schools CSV.")],
) -> None:
    """Validate FILE and, if valid, use its England rows on the school overview."""
    from pathlib import Path

    from serving.errors import Invalid
    from serving.national import import_file
    from serving.settings import ServingSettings

    path = Path(file)
    if not path.is_file():
        typer.echo(f"error: {file}: no such file", err=True)
        raise typer.Exit(2)
    try:
        figures = import_file(path, ServingSettings().data_dir)
    except Invalid as exc:
        typer.echo(f"error: {exc.message} ({exc.fix})", err=True)
        for issue in exc.details.get("issues", []):
            typer.echo(
                f"  {issue['file']} row {issue['row']}, column {issue['column']}: "
                f"{issue['problem']} (value {issue['value']!r}): {issue['fix']}",
                err=True,
            )
        raise typer.Exit(1) from None
    years = sorted({f.academic_year for f in figures})
    typer.echo(f"imported {len(figures)} England figures for {', '.join(years)}")


def export(
    out: Annotated[str, typer.Option("--out", help="A new (or empty) directory to write.")],
    school: Annotated[
        list[int] | None, typer.Option(help="Only this school's data (URN; repeat for several).")
    ] = None,
    year: Annotated[
        list[str] | None, typer.Option(help="Only this academic year, e.g. 2024/25 (repeat).")
    ] = None,
) -> None:
    """Export the service's schools, rosters (without names) and marks in the layout
    ``ews features --engine spark`` reads (marks partitioned by academic year and school),
    audited per school."""
    from pathlib import Path

    from serving.export import export_partitioned

    db = _database()
    try:
        summary = export_partitioned(db, Path(out), schools=school, years=year)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    years = ", ".join(summary.years) or "no marks"
    typer.echo(
        f"exported {summary.schools} schools ({summary.school_years} school-years: {years}), "
        f"{summary.roster_rows:,} roster rows, {summary.marks:,} marks to {summary.out_dir}"
    )


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``keys``, ``audit``, ``national`` and ``export`` to the ``ews`` command
    line."""
    app.command("serve")(serve)
    app.command("export")(export)
    app.add_typer(keys_app, name="keys")
    app.command("audit")(audit)
    app.add_typer(national_app, name="national")
