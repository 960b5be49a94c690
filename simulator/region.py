"""A region of several neighbouring local authorities, simulated and written one at a time.

One authority is simulated in memory (all its marks at once: ~3 GB for 150,000 pupil-years),
so a national-scale test set — half a million pupils or more — is simulated as many
authorities, each written out before the next begins: memory is bounded by one authority,
however large the region. England is itself 153 local authorities.

Authority ``i`` (from 0) of a region with seed ``s`` is :func:`simulate_authority` of the same
configuration with ``seed = s + 100_000 * i``, ``la_code = 990 - i``, ``la_name`` numbered
(``Northvale``, ``Northvale 2``...) and URNs drawn from their own block of 50,000; one UPN
allocator serves them all, so no two pupils of the region share a UPN. Authority 0 is exactly
the single authority of the same configuration.

Written as :func:`simulator.output.write_authority` writes one authority: ``schools.csv``,
``pupils.csv``, ``marks.parquet`` (one row group per authority and year), ``episodes.parquet``
and, with ``partitioned``, the marks by academic year and school.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from features.schema import PUPIL_COLUMNS, SCHOOL_COLUMNS
from simulator.authority import (
    SimulatedAuthority,
    figures_of_enrolments,
    simulate_authority,
    year_enrolments_totals,
)
from simulator.config import SimulationConfig
from simulator.output import EPISODES_FILE, iso_dates
from simulator.population import URN_SPAN, UpnAllocator

SEED_STRIDE = 100_000
"""Authority ``i`` is simulated with ``seed + SEED_STRIDE * i``."""
MAX_AUTHORITIES = (950_000 - 100_000) // URN_SPAN + 1
"""As many as there are blocks of 6-digit URNs (18)."""


def authority_configs(config: SimulationConfig, authorities: int) -> list[SimulationConfig]:
    """The configuration of each authority of the region: ``config``'s pupils (and schools,
    when given) shared out as evenly as whole numbers allow."""
    if not 1 <= authorities <= MAX_AUTHORITIES:
        raise ValueError(f"authorities must be 1 to {MAX_AUTHORITIES}, not {authorities}")
    pupils = _shares(config.pupils, authorities)
    if min(pupils) < 200:
        raise ValueError(
            f"{config.pupils:,} pupils over {authorities} authorities leaves fewer than 200 in "
            f"one: give at least {200 * authorities:,} pupils or fewer authorities"
        )
    schools = _shares(config.schools, authorities) if config.schools is not None else None
    if schools is not None and min(schools) < 3:
        raise ValueError(
            f"{config.schools} schools over {authorities} authorities leaves fewer than 3 in "
            f"one: give at least {3 * authorities} schools"
        )
    return [
        dataclasses.replace(
            config,
            pupils=pupils[i],
            schools=None if schools is None else schools[i],
            seed=config.seed + SEED_STRIDE * i,
            la_code=config.la_code - i,
            la_name=config.la_name if i == 0 else f"{config.la_name} {i + 1}",
            urn_base=config.urn_base + URN_SPAN * i,
        )
        for i in range(authorities)
    ]


def _shares(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def simulate_region(
    config: SimulationConfig,
    authorities: int,
    out_dir: Path,
    *,
    partitioned: bool = False,
    progress: Callable[[SimulatedAuthority], None] | None = None,
) -> tuple[dict[str, int], pd.DataFrame]:
    """Simulate ``authorities`` authorities one after another and write them under
    ``out_dir`` together. Returns the counts written (``schools, pupils, marks, episodes,
    authorities``) and the region's headline figures (per academic year and phase, as
    :func:`simulator.authority.headline_figures`). ``progress`` is called with each authority
    once written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.partitioned import write_partitioned_marks

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = authority_configs(config, authorities)
    upns = UpnAllocator()
    schools, pupils, episodes, enrolments = [], [], [], []
    marks_written = 0
    writer: pq.ParquetWriter | None = None
    try:
        for index, authority_config in enumerate(configs):
            authority = simulate_authority(authority_config, upns)
            table = pa.Table.from_pandas(authority.marks, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(
                    out_dir / "marks.parquet.part", table.schema, compression="zstd"
                )
            # Each authority's UPN categories differ; the column's type must not.
            writer.write_table(table.cast(writer.schema))
            if partitioned:
                write_partitioned_marks(authority.marks, out_dir, replace=index == 0)
            marks_written += len(authority.marks)
            schools.append(authority.schools[SCHOOL_COLUMNS])
            pupils.append(iso_dates(authority.pupils[PUPIL_COLUMNS]))
            episodes.append(authority.episodes)
            enrolments.append(year_enrolments_totals(authority))
            if progress is not None:
                progress(authority)
            del authority, table
    except BaseException:
        if writer is not None:
            writer.close()
        (out_dir / "marks.parquet.part").unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
    (out_dir / "marks.parquet.part").replace(out_dir / "marks.parquet")
    pd.concat(schools, ignore_index=True).to_csv(out_dir / "schools.csv", index=False)
    pd.concat(pupils, ignore_index=True).to_csv(out_dir / "pupils.csv", index=False)
    all_episodes = pd.concat(episodes, ignore_index=True)
    all_episodes.to_parquet(out_dir / EPISODES_FILE, index=False)
    counts = {
        "schools": sum(len(s) for s in schools),
        "pupils": sum(len(p) for p in pupils),
        "marks": marks_written,
        "episodes": len(all_episodes),
        "authorities": authorities,
    }
    return counts, figures_of_enrolments(pd.concat(enrolments, ignore_index=True))


__all__ = ["MAX_AUTHORITIES", "SEED_STRIDE", "authority_configs", "simulate_region"]
