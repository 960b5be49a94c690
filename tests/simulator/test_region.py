"""A region of several authorities, simulated one at a time (simulator.region): the same
authorities as simulated alone, with URNs and UPNs unique across the region, written as one."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.arithmetic import area_totals, enrolment_totals
from features.partitioned import read_partitioned_marks
from simulator.authority import headline_figures, simulate_authority
from simulator.config import SimulationConfig
from simulator.region import authority_configs, simulate_region

YEARS = ("2023/24", "2024/25")


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    out = tmp_path_factory.mktemp("region")
    config = SimulationConfig(pupils=900, years=YEARS, seed=4)
    counts, figures = simulate_region(config, 3, out, partitioned=True)
    return config, out, counts, figures


def test_the_first_authority_is_the_authority_simulated_alone(region):
    config, out, _, _ = region
    first = authority_configs(config, 3)[0]
    alone = simulate_authority(first)
    schools = pd.read_csv(out / "schools.csv")
    marks = pd.read_parquet(out / "marks.parquet")
    mine = marks[marks["school_urn"].isin(alone.schools["school_urn"])].reset_index(drop=True)
    expected = alone.marks.reset_index(drop=True)
    pd.testing.assert_frame_equal(
        mine.astype({"upn": str}), expected.astype({"upn": str}), check_categorical=False
    )
    assert set(schools.loc[schools["la"] == config.la_name, "school_urn"]) == set(
        alone.schools["school_urn"]
    )


def test_authorities_differ_and_share_no_school_or_pupil(region):
    config, out, counts, _ = region
    schools = pd.read_csv(out / "schools.csv")
    pupils = pd.read_csv(out / "pupils.csv", dtype={"upn": str})
    assert counts["authorities"] == 3 and counts["schools"] == len(schools)
    assert list(schools["la"].unique()) == ["Northvale", "Northvale 2", "Northvale 3"]
    assert schools["school_urn"].is_unique
    la_of = schools.set_index("school_urn")["la"]
    pupils["la"] = pupils["school_urn"].map(la_of)
    # No UPN in two authorities (no pupil moves between them), none twice in a school-year.
    assert (pupils.groupby("upn")["la"].nunique() == 1).all()
    assert not pupils.duplicated(["academic_year", "school_urn", "upn"]).any()
    # Different seeds: each authority's pupils have their own absence, not a copy's.
    totals = enrolment_totals(read_partitioned_marks(out))
    totals["la"] = totals["school_urn"].map(la_of).to_numpy()
    absences = {
        la: tuple(sorted(rows["authorised_absence"] + rows["unauthorised_absence"]))
        for la, rows in totals.groupby("la")
    }
    assert len(set(absences.values())) == 3


def test_the_files_hold_every_authority_once(region):
    _, out, counts, _ = region
    marks = pd.read_parquet(out / "marks.parquet")
    partitioned = read_partitioned_marks(out)
    assert len(marks) == len(partitioned) == counts["marks"]
    keys = ["school_urn", "upn", "date", "session"]
    left = marks.astype({"upn": str, "code": str, "session": str, "school_urn": "int64"})
    right = partitioned.astype({"upn": str, "code": str, "session": str})[left.columns]
    left = left.sort_values(keys).reset_index(drop=True)
    right = right.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert len(episodes) == counts["episodes"]
    assert set(episodes["upn"].astype(str)) <= set(marks["upn"].astype(str))


def test_the_region_figures_are_the_sums_over_its_enrolments(region):
    _, out, _, figures = region
    marks = pd.read_parquet(out / "marks.parquet")
    phase = pd.read_csv(out / "schools.csv").set_index("school_urn")["phase"]
    year_start = marks["date"].dt.year - (marks["date"].dt.month < 8)
    for year in YEARS:
        of_year = marks[(year_start == int(year[:4])).to_numpy()]
        enrolments = enrolment_totals(of_year)
        expected = area_totals(enrolments).iloc[0]
        row = figures[(figures["academic_year"] == year) & (figures["phase"] == "all")].iloc[0]
        assert row["enrolments"] == expected["enrolments"]
        assert row["overall_absence"] == pytest.approx(expected["absence_rate"])
        assert row["persistent_absence"] == pytest.approx(expected["persistent_absence_rate"])
        enrolments["phase"] = enrolments["school_urn"].map(phase).to_numpy()
        assert set(figures.loc[figures["academic_year"] == year, "phase"]) == {
            *enrolments["phase"],
            "all",
        }


def test_one_authority_is_the_single_authority_and_its_figures():
    config = SimulationConfig(pupils=400, years=("2024/25",), seed=1)
    (only,) = authority_configs(config, 1)
    assert only == config
    figures = headline_figures(simulate_authority(config))
    assert list(figures["phase"])[-1] == "all"


@pytest.mark.parametrize(
    ("kwargs", "authorities", "message"),
    [
        ({"pupils": 500}, 3, "fewer than 200 in one: give at least 600 pupils"),
        ({"pupils": 2000, "schools": 5}, 2, "fewer than 3 in one: give at least 6 schools"),
        ({"pupils": 20000}, 19, "authorities must be 1 to 18"),
    ],
)
def test_a_region_that_cannot_be_shared_out_is_refused(kwargs, authorities, message):
    with pytest.raises(ValueError, match=message):
        authority_configs(SimulationConfig(**kwargs), authorities)


def test_cli_simulates_a_region_and_refuses_one_authority_options(tmp_path):
    from ews.cli import app

    out = tmp_path / "region"
    base = ["simulate", "--out", str(out), "--pupils", "600", "--years", "1"]
    refused = CliRunner().invoke(app, [*base, "--authorities", "2", "--register-files"])
    assert refused.exit_code == 2
    assert "--register-files simulate one authority" in refused.output
    assert not out.exists()
    result = CliRunner().invoke(app, [*base, "--authorities", "2", "--partitioned"])
    assert result.exit_code == 0, result.output
    assert "Northvale 2 (LA 989)" in result.output
    assert "region of 2 authorities" in result.output
    assert (out / "marks" / "academic_year=2024-25").is_dir()
    assert not (out / "marks.parquet.part").exists()
