"""Supported pupil-years leave the training labels (docs/impact.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.supported import leave_out_supported


def test_supported_pupil_years_lose_their_labels_and_nothing_else():
    snapshots = pd.DataFrame(
        {
            "academic_year": ["2023/24", "2023/24", "2024/25", "2024/25", "2024/25"],
            "school_urn": [100001] * 5,
            "upn": ["A", "A", "A", "B", "A"],
            "week": [1, 2, 1, 1, 2],
            "absence_rate_ytd": [0.2, 0.3, 0.1, 0.0, 0.2],
            "pa_year_end": [1.0, 1.0, 1.0, 0.0, 1.0],
            "severe_year_end": [0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    referrals = pd.DataFrame(
        {"school_urn": [100001, 100001], "upn": ["A", "B"], "accepted_on": ["2024-11-04", None]}
    )
    out = leave_out_supported(snapshots, referrals)
    # A was supported in 2024/25 (both weeks lose the label); B's referral was never accepted
    assert np.isnan(out.loc[[2, 4], "pa_year_end"]).all()
    assert np.isnan(out.loc[[2, 4], "severe_year_end"]).all()
    assert out.loc[[0, 1, 3], "pa_year_end"].tolist() == [1.0, 1.0, 0.0]
    assert out["absence_rate_ytd"].equals(snapshots["absence_rate_ytd"])
    assert len(out) == len(snapshots)
