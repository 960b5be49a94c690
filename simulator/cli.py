"""``ews simulate``: write a simulated local authority to a directory.

Heavy libraries are imported inside the command so that ``ews --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from simulator.authority import SimulatedAuthority
    from simulator.config import SimulationConfig


def format_headline_table(figures: pd.DataFrame) -> str:
    """Headline figures (from :func:`simulator.authority.headline_figures`) as a
    plain-text table, one row per academic year and phase."""
    header = f"{'year':<8} {'phase':<10} {'pupils':>7} {'absence':>8} {'PA':>7} {'severe':>7}"
    lines = [header, "-" * len(header)]
    for row in figures.itertuples(index=False):
        lines.append(
            f"{row.academic_year:<8} {row.phase:<10} {row.enrolments:>7,d} "
            f"{row.overall_absence:>7.1%} {row.persistent_absence:>7.1%} "
            f"{row.severe_absence:>7.2%}"
        )
    return "\n".join(lines)


def _simulate_region(
    config: SimulationConfig,
    authorities: int,
    out: Path,
    partitioned: bool,
    register_files: bool,
    support_effect: float | None,
    report: bool,
) -> None:
    """``ews simulate --authorities N``: :func:`simulator.region.simulate_region`."""
    import time

    from simulator.region import simulate_region

    alone = [
        name
        for name, given in (
            ("--register-files", register_files),
            ("--support-effect", support_effect is not None),
            ("--report", report),
        )
        if given
    ]
    if alone:
        typer.echo(
            f"error: {', '.join(alone)} simulate one authority: leave out --authorities, or "
            f"simulate the region without {'them' if len(alone) > 1 else 'it'}",
            err=True,
        )
        raise typer.Exit(code=2)
    started = time.perf_counter()

    def written(authority: SimulatedAuthority) -> None:
        typer.echo(
            f"  {authority.config.la_name} (LA {authority.config.la_code}): "
            f"{len(authority.schools)} schools, {len(authority.pupils):,} pupil-years, "
            f"{len(authority.marks):,} marks ({time.perf_counter() - started:.0f} s)"
        )

    try:
        counts, figures = simulate_region(
            config, authorities, out, partitioned=partitioned, progress=written
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"Simulated a region of {authorities} authorities ({counts['schools']} schools, regime "
        f"{config.regime}, seed {config.seed}): {counts['pupils']:,} pupil-years, "
        f"{counts['marks']:,} marks, {counts['episodes']:,} episodes in "
        f"{time.perf_counter() - started:.1f} s -> {out}"
    )
    if partitioned:
        typer.echo(f"Partitioned marks (academic year × school) under {Path(out) / 'marks'}")
    typer.echo("")
    typer.echo(format_headline_table(figures))


def simulate(
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory to write schools.csv, pupils.csv, marks.parquet."),
    ],
    schools: Annotated[
        int | None,
        typer.Option(
            "--schools",
            help="Number of schools (mostly primary, ~1/4 secondary, ~1/15 special); "
            "default one per 500 pupils.",
            min=3,
        ),
    ] = None,
    pupils: Annotated[
        int,
        typer.Option("--pupils", help="Pupils on roll in Years 1-11 each year.", min=200),
    ] = 6000,
    years: Annotated[
        str,
        typer.Option(
            "--years",
            help="Consecutive academic years, e.g. 2022/23,2023/24,2024/25 (or a count: "
            "that many years ending 2024/25).",
        ),
    ] = "2022/23,2023/24,2024/25",
    regime: Annotated[
        str,
        typer.Option(
            "--regime",
            help="DfE year whose absence level and distribution every year reproduces: "
            "2022/23 (post-pandemic) or 2018/19 (pre-pandemic).",
        ),
    ] = "2022/23",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same LA).")] = 0,
    register_files: Annotated[
        bool,
        typer.Option(
            "--register-files",
            help="Also write the last year's weekly register uploads and rosters under "
            "DIR/registers/<urn>/.",
        ),
    ] = False,
    support_effect: Annotated[
        float | None,
        typer.Option(
            "--support-effect",
            help="Simulate family support (docs/simulator.md, 'Simulated support'): the true "
            "change in attendance, in percentage points, over the 10 school weeks after a "
            "referral is accepted (0 allowed). Writes referrals.csv, contacts.csv and the "
            "truth, support_truth.parquet.",
            min=0.0,
            max=50.0,
        ),
    ] = None,
    partitioned: Annotated[
        bool,
        typer.Option(
            "--partitioned",
            help="Also write the marks as Parquet partitioned by academic year and school "
            "(DIR/marks/academic_year=2024-25/school_urn=<urn>/), the layout "
            "`ews features --engine spark` reads.",
        ),
    ] = False,
    authorities: Annotated[
        int,
        typer.Option(
            "--authorities",
            help="Simulate a region of this many neighbouring local authorities, --pupils (and "
            "--schools) shared between them, one at a time: memory is bounded by one "
            "authority, so national-scale test sets fit (docs/scale.md).",
            min=1,
        ),
    ] = 1,
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Also print the calibration report: every target (DfE bands, term figures, "
            "persistence between years, code mix) simulated beside real.",
        ),
    ] = False,
) -> None:
    """Simulate a local authority's schools, pupils and register marks.

    Pupils live through their year: a stable propensity, drifting, plus episodes that begin
    during the year (long illness, anxiety, family crisis, disengagement, holidays,
    suspensions), calibrated to the DfE's figures for the regime year (docs/simulator.md).
    The episodes are written apart (episodes.parquet): nothing but evaluation may read them.
    """
    import time

    from simulator.authority import headline_figures, simulate_authority
    from simulator.config import SimulationConfig, parse_years
    from simulator.output import write_authority

    try:
        config = SimulationConfig(
            pupils=pupils,
            schools=schools,
            years=parse_years(years),
            regime=regime,
            seed=seed,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if authorities > 1:
        _simulate_region(
            config, authorities, out, partitioned, register_files, support_effect, report
        )
        return
    started = time.perf_counter()
    authority = simulate_authority(config)
    support = None
    if support_effect is not None:
        from simulator.support import SupportPolicy, add_support

        authority, support = add_support(authority, SupportPolicy(effect_pts=support_effect))
    counts = write_authority(authority, out, register_files=register_files)
    if support is not None:
        from simulator.support import write_support

        write_support(support, out)
    if partitioned:
        from features.partitioned import write_partitioned_marks

        write_partitioned_marks(authority.marks, out)
    elapsed = time.perf_counter() - started
    typer.echo(
        f"Simulated {config.la_name} ({counts['schools']} schools, regime {config.regime}, "
        f"seed {config.seed}): {counts['pupils']:,} pupil-years, {counts['marks']:,} marks, "
        f"{counts['episodes']:,} episodes in {elapsed:.1f} s -> {out}"
    )
    if partitioned:
        typer.echo(f"Partitioned marks (academic year × school) under {Path(out) / 'marks'}")
    if register_files:
        typer.echo(
            f"Register files for {config.years[-1]}: {counts['register_files']:,} weekly files "
            f"({counts['register_rows']:,} rows) and {counts['rosters']} rosters under "
            f"{Path(out) / 'registers'}"
        )
    if support is not None:
        typer.echo(
            f"Support ({support_effect:g} points): {len(support.referrals):,} referrals, "
            f"{len(support.contacts):,} contacts -> {Path(out) / 'referrals.csv'}"
        )
    typer.echo("")
    typer.echo(format_headline_table(headline_figures(authority)))
    if report:
        from simulator.report import calibration_report, format_report, pa_so_far_table

        targets, outcomes = calibration_report(authority)
        typer.echo("")
        typer.echo(f"Calibration report (regime {config.regime}):")
        typer.echo(format_report(targets))
        typer.echo("")
        typer.echo(pa_so_far_table(outcomes))
