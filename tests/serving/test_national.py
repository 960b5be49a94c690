"""England's figures: the shipped DfE file, validation with clear errors, the import command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ews.cli import app
from serving.errors import Invalid
from serving.national import SHIPPED, england_for, load_figures, read_figures

HEADER = (
    "academic_year,period,geographic_level,region_name,la_name,new_la_code,phase,enrolments,"
    "possible_sessions,overall_absence_perc,authorised_absence_perc,unauthorised_absence_perc,"
    "illness_perc,pa_perc\n"
)


def test_shipped_file_gives_englands_published_figures(tmp_path: Path) -> None:
    figures = load_figures(tmp_path)
    whole, terms = england_for(figures, "secondary", "2023/24")
    assert whole is not None
    assert (whole.academic_year, whole.period) == ("2023/24", "academic year")
    assert whole.absence == pytest.approx(0.09059)
    assert whole.persistent_absence == pytest.approx(0.26749)
    assert [t.period for t in terms] == ["autumn", "spring"]
    # A later year than published: the latest published year stands in (and says so).
    later, _ = england_for(figures, "primary", "2025/26")
    assert later is not None and later.academic_year == "2023/24"
    assert later.absence == pytest.approx(0.05528)


def test_invalid_rows_are_named_with_file_row_column_and_fix() -> None:
    body = HEADER + "2023/24,autumn,National,,,,Primary,1,1,5.2,3.8,1.4,3.1,16.0\n"
    body += "2023-24,winter,National,,,,Primary,1,1,abc,3.8,1.4,3.1,160\n"
    with pytest.raises(Invalid) as caught:
        read_figures(body.encode(), "eng.csv")
    issues = caught.value.details["issues"]
    found = {(i["row"], i["column"]) for i in issues}
    assert found == {
        (3, "academic_year"), (3, "period"), (3, "overall_absence_perc"), (3, "pa_perc"),
    }  # fmt: skip
    assert all(i["file"] == "eng.csv" and i["fix"] for i in issues)


def test_missing_column_is_refused() -> None:
    with pytest.raises(Invalid, match="pa_perc"):
        read_figures(b"academic_year,period,geographic_level,phase\n", "x.csv")


def test_import_command_stores_a_valid_file_and_refuses_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EWS_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "2024/25,academic year,National,,,,Primary,1,1,5.0,3.5,1.5,3,14.5\n")
    result = runner.invoke(app, ["national", "import", str(good)])
    assert result.exit_code == 0, result.output
    whole, _ = england_for(load_figures(tmp_path), "primary", "2024/25")
    assert whole is not None and whole.persistent_absence == pytest.approx(0.145)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2024/25,academic year,National,,,,Primary,1,1,x5,3.5,1.5,3,14.5\n")
    result = runner.invoke(app, ["national", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv row 2, column overall_absence_perc" in result.output
    # The bad file changed nothing.
    whole, _ = england_for(load_figures(tmp_path), "primary", "2024/25")
    assert whole is not None and whole.absence == pytest.approx(0.05)


def test_shipped_file_is_in_the_package() -> None:
    assert SHIPPED.exists()
