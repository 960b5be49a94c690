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
from training.supported import leave_out_supported, read_referrals

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
    referrals = read_referrals(data_dir)
    if referrals is not None:  # supported pupil-years teach nothing about risk
        snapshots = leave_out_supported(snapshots, referrals)
    return attach_audit(snapshots, pupils)


@dataclass(frozen=True)
class YearSplit:
    """Academic years of a temporal split.

    The evaluated model is fitted on ``fit_years``: the training years, less a first data year
    in which no pupil has any history (``DataConfig.refit_needs_history``), so that the tree
    count is chosen, and the model learns, where history features exist. Its number of trees is
    chosen by early stopping on a holdout of schools within those years. ``test_year`` is held
    out from everything; the shipped model is then refitted on ``ship_years`` (every labelled
    year with history, the test year included) with the same recipe.
    """

    train_years: list[str]
    test_year: str
    fit_years: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.fit_years:
            object.__setattr__(self, "fit_years", list(self.train_years))

    @property
    def ship_years(self) -> list[str]:
        return [*self.fit_years, self.test_year]


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
    fit_years = list(train_years)
    if config.refit_needs_history:
        with_history = years_with_history(snapshots)
        fit_years = [y for y in train_years if y in with_history] or fit_years
    return YearSplit(train_years, test_year, fit_years)


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
    if split.fit_years != split.train_years:
        window["fit"] = describe_years(snapshots, split.fit_years)
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
