"""The run configuration and the temporal split."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from training.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    TrainingConfig,
    config_to_toml,
    load_config,
)
from training.data import (
    DataError,
    attach_audit,
    audit_attributes,
    rows_for,
    split_years,
)
from training.pipeline import check_test_rows


def test_the_shipped_default_is_the_validated_default() -> None:
    config = load_config()
    assert config == TrainingConfig()
    assert config.run.feature_set == "attendance+context"
    assert config.feature_sets == ["attendance+context", "attendance"]
    assert DEFAULT_CONFIG_PATH.name == "default.toml"


def test_config_round_trips_through_the_logged_toml() -> None:
    config = TrainingConfig.model_validate(
        {
            "data": {"test_year": "2024/25", "train_years": ["2023/24"]},
            "lightgbm": {"num_leaves": 7},
        }
    )
    assert TrainingConfig.model_validate(tomllib.loads(config_to_toml(config))) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[lightgbm]\nnum_leafs = 7\n",
            r"\[lightgbm.num_leafs\] unknown key: did you mean 'num_leaves'",
        ),
        (
            "[lgbm]\nnum_leaves = 7\n",
            r"\[lgbm\] unknown key: .*known keys: run, data, model, lightgbm",
        ),
        (
            '[lightgbm]\nnum_leaves = "15"\n',
            r"\[lightgbm.num_leaves\] .*valid integer \(got '15'\)",
        ),
        (
            "[lightgbm]\nnum_leaves = true\n",
            r"\[lightgbm.num_leaves\] .*valid integer \(got True\)",
        ),
        ('[data]\nrefit_needs_history = "no"\n', r"\[data.refit_needs_history\] .*valid boolean"),
        ('[fairness]\nattributes = ["fms", "sen"]\n', r"\[fairness.attributes\].*not \['fms'\]"),
        ("[fairness]\nattributes = []\n", r"\[fairness.attributes\].*at least one"),
        ('[fairness]\nreference = { ethnicty = "White" }\n', r"unknown attributes \['ethnicty'\]"),
        ("[fairness]\nlow = 1.25\nhigh = 0.8\n", r"\[fairness.low\].*; \[fairness.high\]"),
        ("[evaluation]\nreport_weeks = [0, 6]\n", r"\[evaluation.report_weeks\].*from 1"),
        ('[data]\ntest_year = "2024-25"\n', r"\[data.test_year\].*YYYY/YY"),
        ('[run]\nfeature_set = "everything"\n', r"\[run.feature_set\].*not one of"),
        ('[lightgbm]\nmonotone_increasing = ["shoe_size"]\n', r"unknown features.*shoe_size"),
        ("[evaluation]\noperating_share = 0.15\n", r"operating_share 0.15 must be in top_shares"),
        ("[run\n", r"not valid TOML"),
    ],
)
def test_bad_config_files_say_where_and_what(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_config_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)  # a directory, not a file


def test_evaluation_settings_that_do_not_fit_the_test_year_are_refused() -> None:
    test_rows = pd.DataFrame(
        {"academic_year": "2024/25", "week": [1, 2, 3, 1], "audit_sex": ["F", "M", "F", "M"]}
    )
    check_test_rows(test_rows, TrainingConfig.model_validate({"evaluation": {"report_weeks": [2]}}))
    weeks = TrainingConfig.model_validate({"evaluation": {"report_weeks": [2, 45]}})
    with pytest.raises(DataError, match=r"report_weeks \[45\] .* 2024/25 \(it has weeks 1–3\)"):
        check_test_rows(test_rows, weeks)
    reference = TrainingConfig.model_validate(
        {"evaluation": {"report_weeks": [2]}, "fairness": {"reference": {"sex": "Female"}}}
    )
    with pytest.raises(DataError, match=r"reference sex = 'Female' .* groups: \['F', 'M'\]"):
        check_test_rows(test_rows, reference)


def labelled(years: dict[str, float]) -> pd.DataFrame:
    """Two pupils per year, two weeks each; ``years`` maps year → label (NaN = unknown)."""
    rows = []
    for year, label in years.items():
        for upn in ("A", "B"):
            for week in (1, 2):
                rows.append(
                    {
                        "academic_year": year,
                        "school_urn": 1,
                        "upn": upn,
                        "week": week,
                        "pa_year_end": label,
                        "absence_rate_ytd": 0.0,
                    }
                )
    return pd.DataFrame(rows)


def test_split_tests_on_the_last_labelled_year_and_trains_on_the_earlier_ones() -> None:
    frame = labelled({"2021/22": 0, "2022/23": 1, "2023/24": 0, "2024/25": np.nan})
    split = split_years(frame, TrainingConfig().data)
    assert split.test_year == "2023/24"  # 2024/25 has no outcomes yet
    assert split.train_years == ["2021/22", "2022/23"]
    assert split.fit_years == ["2021/22", "2022/23"]
    assert split.ship_years == ["2021/22", "2022/23", "2023/24"]


def test_a_first_year_without_any_history_is_left_out_of_fitting() -> None:
    frame = labelled({"2021/22": 0, "2022/23": 1, "2023/24": 0})
    frame["on_roll_last_year"] = np.where(frame["academic_year"] == "2021/22", np.nan, 1.0)
    split = split_years(frame, TrainingConfig().data)
    assert split.train_years == ["2021/22", "2022/23"]
    assert split.fit_years == ["2022/23"] and split.ship_years == ["2022/23", "2023/24"]
    keep = TrainingConfig.model_validate({"data": {"refit_needs_history": False}}).data
    assert split_years(frame, keep).fit_years == ["2021/22", "2022/23"]


def test_split_with_a_chosen_test_year_never_trains_on_it_or_later() -> None:
    frame = labelled({"2021/22": 0, "2022/23": 1, "2023/24": 0})
    config = TrainingConfig.model_validate({"data": {"test_year": "2022/23"}}).data
    split = split_years(frame, config)
    assert split.train_years == ["2021/22"] and split.fit_years == ["2021/22"]
    late = TrainingConfig.model_validate(
        {"data": {"test_year": "2022/23", "train_years": ["2023/24"]}}
    ).data
    with pytest.raises(DataError, match="not before the test year 2022/23"):
        split_years(frame, late)


def test_split_needs_two_labelled_years() -> None:
    with pytest.raises(DataError, match="at least two academic years"):
        split_years(labelled({"2023/24": 1, "2024/25": np.nan}), TrainingConfig().data)
    with pytest.raises(DataError, match="test year 2020/21 has no known outcomes"):
        split_years(
            labelled({"2022/23": 1, "2023/24": 0}),
            TrainingConfig.model_validate({"data": {"test_year": "2020/21"}}).data,
        )


def test_rows_for_keeps_labelled_rows_of_chosen_years_and_weeks() -> None:
    frame = labelled({"2022/23": 1, "2023/24": np.nan})
    assert len(rows_for(frame, ["2022/23"])) == 4
    assert len(rows_for(frame, ["2023/24"])) == 0
    assert len(rows_for(frame, ["2023/24"], labelled=False)) == 4
    assert rows_for(frame, ["2022/23"], every=2)["week"].unique().tolist() == [1]


def test_audit_attributes_are_readable_and_never_features() -> None:
    pupils = pd.DataFrame(
        {
            "academic_year": ["2023/24"] * 3,
            "school_urn": [1, 1, 1],
            "upn": ["A", "B", "C"],
            "fsm": [1, 0, None],
            "sen": ["K", "N", "E"],
            "eal": ["True", "False", "1"],
            "sex": ["F", "M", None],
            "ethnicity": ["White", "Asian", None],
        }
    )
    audit = audit_attributes(pupils).set_index("upn")
    assert audit.loc["A", ["audit_fsm", "audit_sen", "audit_eal"]].tolist() == [
        "yes",
        "SEN support",
        "yes",
    ]
    assert audit.loc["C", ["audit_fsm", "audit_sex", "audit_ethnicity"]].tolist() == [
        "unknown",
        "unknown",
        "unknown",
    ]
    snapshots = labelled({"2023/24": 1})
    joined = attach_audit(snapshots, pupils)
    assert len(joined) == len(snapshots)
    assert joined.loc[joined["upn"] == "B", "audit_sex"].unique().tolist() == ["M"]
