"""Labelled snapshot datasets and the temporal split.

Rows come from :func:`features.snapshots.snapshots_from_directory` (one row per enrolment per
as-of school week). The fairness audit needs who the pupils are, which the model must never
see: :func:`load_dataset` joins the audit attributes (FSM, SEN provision, sex, EAL,
ethnicity) from ``pupils.csv`` as separate ``audit_*`` columns, never as features.

The split is by academic year only (MODELLING.md §3): train on earlier years, test on a later
one, early-stop on the last training year — never a random split of rows, never the same
pupil-year on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.calendar import parse_academic_year
from features.schema import KEY_COLUMNS, LABEL_COLUMNS
from training.config import AUDIT_ATTRIBUTES, DataConfig

LABEL = "pa_year_end"
AUDIT_PREFIX = "audit_"

_YES = {"1", "1.0", "true", "y", "yes"}
_NO = {"0", "0.0", "false", "n", "no"}
_SEN_LABELS = {"N": "none", "K": "SEN support", "E": "EHC plan"}


class DataError(ValueError):
    """Data that cannot be trained on; the message says what and how to fix it."""


def _yes_no(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    return pd.Series(
        np.where(text.isin(_YES), "yes", np.where(text.isin(_NO), "no", "unknown")),
        index=values.index,
    )


def audit_attributes(pupils: pd.DataFrame) -> pd.DataFrame:
    """Readable audit groups per enrolment from the pupils table: ``academic_year, school_urn,
    upn`` and ``audit_fsm`` (yes/no), ``audit_sen`` (none / SEN support / EHC plan),
    ``audit_sex``, ``audit_eal`` (yes/no), ``audit_ethnicity``; "unknown" where missing."""
    keys = ["academic_year", "school_urn", "upn"]
    out = pupils[keys].copy()
    out["academic_year"] = out["academic_year"].astype(str)
    out["school_urn"] = out["school_urn"].astype(np.int64)
    out["upn"] = out["upn"].astype(str)

    def column(name: str) -> pd.Series:
        if name in pupils.columns:
            return pupils[name]
        return pd.Series(np.nan, index=pupils.index)

    out[AUDIT_PREFIX + "fsm"] = _yes_no(column("fsm"))
    out[AUDIT_PREFIX + "eal"] = _yes_no(column("eal"))
    sen = column("sen").astype(str).str.strip().str.upper()
    out[AUDIT_PREFIX + "sen"] = sen.map(_SEN_LABELS).fillna("unknown")
    for name in ("sex", "ethnicity"):
        values = column(name)
        out[AUDIT_PREFIX + name] = values.astype(str).where(values.notna(), "unknown")
    return out.drop_duplicates(keys, keep="last")


def attach_audit(snapshots: pd.DataFrame, pupils: pd.DataFrame) -> pd.DataFrame:
    """``snapshots`` with the ``audit_*`` columns joined on the enrolment."""
    keys = ["academic_year", "school_urn", "upn"]
    audit = audit_attributes(pupils)
    left = snapshots.assign(
        academic_year=snapshots["academic_year"].astype(str),
        school_urn=snapshots["school_urn"].astype(np.int64),
        upn=snapshots["upn"].astype(str),
    )
    joined = left.merge(audit, on=keys, how="left", validate="many_to_one")
    for name in AUDIT_ATTRIBUTES:
        joined[AUDIT_PREFIX + name] = joined[AUDIT_PREFIX + name].fillna("unknown")
    return joined


def load_dataset(data_dir: Path, years: list[str] | None = None) -> pd.DataFrame:
    """Snapshots (every school week) of the authority written by ``ews simulate`` in
    ``data_dir``, with the audit attributes; ``years`` limits the academic years."""
    from features.snapshots import snapshots_from_directory

    data_dir = Path(data_dir)
    if not (data_dir / "pupils.csv").exists():
        raise DataError(
            f"{data_dir} has no pupils.csv: point --data at a directory written by "
            f"`ews simulate --out DIR`"
        )
    snapshots = snapshots_from_directory(data_dir, every=1, years=years)
    pupils = pd.read_csv(
        data_dir / "pupils.csv",
        usecols=lambda c: c in {"academic_year", "school_urn", "upn", *AUDIT_ATTRIBUTES},
        dtype={"upn": str, "academic_year": str},
    )
    return attach_audit(snapshots, pupils)


@dataclass(frozen=True)
class YearSplit:
    """Academic years of a temporal split.

    ``fit_years`` train the early-stopping model, ``validation_year`` stops it (and fits the
    calibration); the final model is refitted on ``refit_years`` (the training years, less
    any whose history features are unknown for everyone, see ``DataConfig.refit_needs_history``).
    ``test_year`` is held out from everything.
    """

    train_years: list[str]
    validation_year: str | None
    test_year: str
    refit_years: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.refit_years:
            object.__setattr__(self, "refit_years", list(self.train_years))

    @property
    def fit_years(self) -> list[str]:
        return [y for y in self.train_years if y != self.validation_year]


def labelled_years(snapshots: pd.DataFrame) -> list[str]:
    """Academic years with known year-end outcomes, oldest first."""
    known = snapshots.loc[snapshots[LABEL].notna(), "academic_year"].astype(str).unique()
    return sorted(known, key=parse_academic_year)


def split_years(snapshots: pd.DataFrame, config: DataConfig) -> YearSplit:
    """The temporal split for ``snapshots`` under ``config`` (see :class:`YearSplit`)."""
    years = labelled_years(snapshots)
    if len(years) < 2:
        raise DataError(
            f"need at least two academic years with known outcomes to train and test, found "
            f"{years or 'none'}: simulate more years (`ews simulate --years 3`)"
        )
    test_year = config.test_year or years[-1]
    if test_year not in years:
        raise DataError(f"test year {test_year} has no known outcomes; labelled years: {years}")
    test_start = parse_academic_year(test_year)
    if config.train_years is not None:
        train_years = sorted(config.train_years, key=parse_academic_year)
        missing = [y for y in train_years if y not in years]
        if missing:
            raise DataError(f"train years {missing} have no known outcomes; labelled: {years}")
        late = [y for y in train_years if parse_academic_year(y) >= test_start]
        if late:
            raise DataError(f"train years {late} are not before the test year {test_year}")
    else:
        train_years = [y for y in years if parse_academic_year(y) < test_start]
    if not train_years:
        raise DataError(f"no labelled year before the test year {test_year} to train on")
    # Early stopping needs a later year than the ones it fits; with one training year there is
    # none, and the booster runs to num_boost_round (said in the run's tags).
    validation_year = train_years[-1] if len(train_years) >= 2 else None
    refit_years = list(train_years)
    if config.refit_needs_history and validation_year is not None:
        with_history = years_with_history(snapshots)
        refit_years = [y for y in train_years if y in with_history] or refit_years
    return YearSplit(train_years, validation_year, test_year, refit_years)


def years_with_history(snapshots: pd.DataFrame) -> set[str]:
    """Academic years in which some pupil's last-year history is known (``on_roll_last_year``
    not NaN); the first year of a data window has none. Without the column, every year."""
    if "on_roll_last_year" not in snapshots.columns:
        return set(snapshots["academic_year"].astype(str).unique())
    known = snapshots["on_roll_last_year"].notna().to_numpy()
    return set(snapshots.loc[known, "academic_year"].astype(str).unique())


def rows_for(
    snapshots: pd.DataFrame, years: list[str], *, every: int = 1, labelled: bool = True
) -> pd.DataFrame:
    """Rows of the given academic years (every ``every``-th school week from week 1),
    with known labels only when ``labelled``."""
    mask = snapshots["academic_year"].astype(str).isin(years).to_numpy()
    if every > 1:
        mask = mask & (((snapshots["week"].to_numpy() - 1) % every) == 0)
    if labelled:
        mask = mask & snapshots[LABEL].notna().to_numpy()
    return snapshots.loc[mask].reset_index(drop=True)


def describe_years(snapshots: pd.DataFrame, years: list[str]) -> dict[str, object]:
    """Years, labelled rows (pupil-weeks), enrolments, pupils, schools, week range and year-end
    PA rate of some academic years of ``snapshots``."""
    rows = rows_for(snapshots, years)
    enrolments = rows.drop_duplicates(["academic_year", "school_urn", "upn"])
    return {
        "years": list(years),
        "rows": len(rows),
        "enrolments": len(enrolments),
        "pupils": int(rows["upn"].nunique()),
        "schools": int(rows["school_urn"].nunique()),
        "weeks": [int(rows["week"].min()), int(rows["week"].max())] if len(rows) else [],
        "pa_rate": float(enrolments[LABEL].mean()) if len(rows) else float("nan"),
    }


def data_window(snapshots: pd.DataFrame, split: YearSplit) -> dict[str, object]:
    """What the run saw: :func:`describe_years` of each part of the split."""
    window: dict[str, object] = {
        "train": describe_years(snapshots, split.train_years),
        "test": describe_years(snapshots, [split.test_year]),
    }
    if split.refit_years != split.train_years:
        window["refit"] = describe_years(snapshots, split.refit_years)
    if split.validation_year:
        window["fit"] = describe_years(snapshots, split.fit_years)
        window["validation"] = describe_years(snapshots, [split.validation_year])
    return window


__all__ = [
    "AUDIT_ATTRIBUTES",
    "AUDIT_PREFIX",
    "KEY_COLUMNS",
    "LABEL",
    "LABEL_COLUMNS",
    "DataError",
    "YearSplit",
    "attach_audit",
    "audit_attributes",
    "data_window",
    "describe_years",
    "labelled_years",
    "load_dataset",
    "rows_for",
    "split_years",
]
