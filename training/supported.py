"""Support changes what the model may learn.

Once family support works, a supported pupil's year ends better than their risk implied. A
model trained on those year-ends would learn that pupils like them are at lower risk — and so
stop flagging the very pupils support is for. The rule (docs/impact.md, "What the model
learns"): **a pupil-year in which a referral was accepted leaves the training labels** — every
school week of it, because the label (persistent absence at the year's end) is measured after
support began even for the weeks before the referral. The rows stay in the snapshots (their
features are still history for later years); only their labels are removed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.calendar import academic_years_of
from features.schema import LABEL_COLUMNS

REFERRALS_FILE = "referrals.csv"
"""The support service's referrals (``school_urn, upn, referred_on, accepted_on``), as the
service or ``ews simulate --support-effect`` writes them: records, not the simulator's truth."""


def supported_pupil_years(referrals: pd.DataFrame) -> pd.DataFrame:
    """``school_urn, upn, academic_year`` of every accepted referral (once each)."""
    accepted = referrals.dropna(subset=["accepted_on"])
    years = academic_years_of(pd.to_datetime(accepted["accepted_on"])).astype(str)
    return pd.DataFrame(
        {
            "school_urn": accepted["school_urn"].astype(np.int64).to_numpy(),
            "upn": accepted["upn"].astype(str).to_numpy(),
            "academic_year": years.to_numpy(),
        }
    ).drop_duplicates()


def leave_out_supported(snapshots: pd.DataFrame, referrals: pd.DataFrame) -> pd.DataFrame:
    """``snapshots`` with the labels of supported pupil-years removed (NaN: not a training or
    test example); every other column unchanged."""
    keys = supported_pupil_years(referrals)
    index = pd.MultiIndex.from_frame(keys)
    rows = pd.MultiIndex.from_arrays(
        [
            snapshots["school_urn"].astype(np.int64).to_numpy(),
            snapshots["upn"].astype(str).to_numpy(),
            snapshots["academic_year"].astype(str).to_numpy(),
        ]
    )
    supported = rows.isin(index)
    out = snapshots.copy()
    for column in LABEL_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype(np.float64).where(~supported)
    return out


def read_referrals(data_dir: Path) -> pd.DataFrame | None:
    """The referrals recorded beside an authority's files, if any."""
    path = Path(data_dir) / REFERRALS_FILE
    if not path.exists():
        return None
    return pd.read_csv(path, dtype={"upn": str}, usecols=["school_urn", "upn", "accepted_on"])
