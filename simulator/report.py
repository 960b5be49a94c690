"""The calibration report: every target of the simulator, simulated beside real.

``ews simulate --report`` prints it; ``tests/simulator/test_calibration.py`` asserts it on a
calibration-size authority. Each :class:`Target` holds what was measured from the marks, the
real figure (with its source) and the tolerance; a target without a real figure for the regime
(the term figures exist for 2022/23 and 2023/24 only) is reported but not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.calibration import (
    BAND_COLUMNS,
    PA_BAND,
    PUBLISHED,
    SEVERE_BAND,
    band_of,
    load_absence_bands,
    term_figures,
)
from simulator.measure import Outcomes, measure, period_absence, period_pa

PHASES = ("primary", "secondary", "special")


@dataclass(frozen=True)
class Target:
    """One calibration target. ``low``/``high`` bound the simulated value (``None`` = not
    judged: no real figure for this regime)."""

    name: str
    group: str
    simulated: float
    real: float | None
    low: float | None
    high: float | None
    source: str
    unit: str = "%"

    @property
    def judged(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def passes(self) -> bool:
        return not self.judged or (self.low <= self.simulated <= self.high)  # type: ignore[operator]


def _within(name, group, simulated, real, tolerance, source, unit="%") -> Target:  # type: ignore[no-untyped-def]
    if real is None:
        return Target(name, group, simulated, None, None, None, source, unit)
    return Target(name, group, simulated, real, real - tolerance, real + tolerance, source, unit)


def _shares(rates: np.ndarray) -> np.ndarray:
    return np.bincount(band_of(rates), minlength=len(BAND_COLUMNS)) / max(len(rates), 1)


def _dfe_shares(bands: pd.DataFrame) -> np.ndarray:
    counts = bands[BAND_COLUMNS].sum().to_numpy(dtype=float)
    return counts / counts.sum()


def band_targets(enrolments: pd.DataFrame, regime: str) -> list[Target]:
    """Per phase: band TVD ≤ 0.05, PA ± 1.5 points, severe ± 0.5 points (DfE census
    distribution, every enrolment of pupils aged 5-15), overall and unauthorised absence ±
    0.6 points of the published rate — counted as the census counts (``rate_census``)."""
    bands = load_absence_bands(regime)
    source = f"DfE absence bands {regime}"
    targets = []
    for phase in PHASES:
        rows = enrolments[enrolments["phase"] == phase]
        if rows.empty:
            continue
        rows = rows[rows["possible_census"] > 0]
        simulated = _shares(rows["rate_census"].to_numpy())
        national = _dfe_shares(bands[bands["phase"] == phase])
        tvd = 0.5 * float(np.abs(simulated - national).sum())
        targets.append(Target("bands TVD", phase, tvd, 0.0, 0.0, 0.05, source, unit=""))
        targets.append(
            _within("PA", phase, simulated[PA_BAND:].sum(), national[PA_BAND:].sum(), 0.015, source)
        )
        targets.append(
            _within(
                "severe absence",
                phase,
                simulated[SEVERE_BAND],
                national[SEVERE_BAND],
                0.005,
                source,
            )
        )
        published = PUBLISHED[regime]
        targets.append(
            _within(
                "overall absence",
                phase,
                float(rows["absent_census"].sum() / rows["possible_census"].sum()),
                published.overall_absence[phase],
                0.006,
                f"DfE published {regime}",
            )
        )
        targets.append(
            _within(
                "unauthorised absence",
                phase,
                float(rows["unauthorised"].sum() / rows["possible"].sum()),
                published.unauthorised_absence[phase],
                0.006,
                f"DfE published {regime}",
            )
        )
    return targets


def term_targets(enrolments: pd.DataFrame, regime: str) -> list[Target]:
    """Per phase: autumn, spring and whole-year PA ± 1.5 points of the DfE's register figures
    for the regime's year (none for 2018/19), and the direction of change through the year."""
    real = term_figures(regime)
    source = f"DfE attendance (registers) {regime}" if not real.empty else "no term data"
    targets = []
    simulated: dict[tuple[str, str], float] = {}
    for phase in PHASES:
        rows = enrolments[enrolments["phase"] == phase]
        for period in ("autumn", "spring", "year"):
            value = period_pa(rows, period)
            simulated[(phase, period)] = value
            match = real[(real["phase"] == phase) & (real["period"] == period)]
            figure = float(match["pa"].iloc[0]) if len(match) else None
            targets.append(_within(f"PA {period}", phase, value, figure, 0.015, source))
        for period in ("autumn", "spring", "summer", "year"):
            match = real[(real["phase"] == phase) & (real["period"] == period)]
            figure = float(match["overall_absence"].iloc[0]) if len(match) else None
            value = period_absence(rows, period)
            targets.append(Target(f"absence {period}", phase, value, figure, None, None, source))
            figure = float(match["illness"].iloc[0]) if len(match) else None
            value = period_absence(rows, period, "illness")
            targets.append(Target(f"illness {period}", phase, value, figure, None, None, source))
    # Direction: secondary's PA grows over the year relative to primary's (2022/23: -0.6 vs
    # -4.2 points from autumn to the year; 2023/24: +2.7 vs -0.8), secondary's year is above
    # its spring term, primary's year is not above its autumn term.
    change = {
        p: simulated[(p, "year")] - simulated[(p, "autumn")] for p in ("primary", "secondary")
    }
    # Judged only for a regime with term figures: a pre-pandemic winter peaked in January.
    both_years = "DfE attendance (registers) 2022/23 and 2023/24"
    judged = not real.empty
    directions = [
        (
            "PA change autumn->year, secondary minus primary",
            "all",
            change["secondary"] - change["primary"],
            (0.0, np.inf),
        ),
        (
            "PA year minus spring",
            "secondary",
            simulated[("secondary", "year")] - simulated[("secondary", "spring")],
            (0.0, np.inf),
        ),
        ("PA year minus autumn", "primary", change["primary"], (-np.inf, 0.0)),
    ]
    for name, group, value, (low, high) in directions:
        targets.append(
            Target(
                name,
                group,
                value,
                None,
                low if judged else None,
                high if judged else None,
                both_years,
            )
        )
    return targets


def persistence_targets(enrolments: pd.DataFrame) -> list[Target]:
    """Between consecutive years, for pupils on roll in both: correlation of their absence
    rates 0.55-0.70 (FFT Education Datalab: 0.63, Year 6 to 7) and the ROC AUC of last year's
    rate for this year's persistent absence 0.76-0.85 (published models reach ~0.80 with
    more than last year's rate)."""
    from sklearn.metrics import roc_auc_score

    per_pupil = enrolments.groupby(["upn", "academic_year"])[["absent", "possible"]].sum()
    rate = (per_pupil["absent"] / per_pupil["possible"]).unstack()
    years = sorted(rate.columns)
    pairs = []
    for last, this in zip(years[:-1], years[1:], strict=True):
        both = rate[[last, this]].dropna()
        pairs.append(both.set_axis(["last", "this"], axis=1))
    if not pairs:
        return []
    both = pd.concat(pairs)
    correlation = float(np.mean([p["last"].corr(p["this"]) for p in pairs]))
    auc = float(roc_auc_score(both["this"] >= 0.1, both["last"]))
    return [
        Target(
            "year-to-year correlation of rates",
            "all",
            correlation,
            0.63,
            0.55,
            0.70,
            "FFT Education Datalab",
            unit="",
        ),
        Target(
            "AUC of last year's rate for this year's PA",
            "all",
            auc,
            0.80,
            0.76,
            0.85,
            "published models ~0.80",
            unit="",
        ),
    ]


def shape_targets(outcomes: Outcomes, authority) -> list[Target]:  # type: ignore[no-untyped-def]
    """Illness share of absence 45-60%; other unauthorised (O) far higher in secondary than
    primary; spells mostly of one or two days; L and U near the DfE's shares."""
    marks = authority.marks
    phase = marks["school_urn"].map(authority.schools.set_index("school_urn")["phase"])
    code = marks["code"].astype(str)
    enrolments = outcomes.enrolments
    illness_share = float(enrolments["illness"].sum() / enrolments["absent"].sum())
    o_share = code.eq("O").groupby(phase.to_numpy()).mean()
    return [
        Target(
            "illness share of absence",
            "all",
            illness_share,
            0.5,
            0.45,
            0.60,
            "DfE: about half",
            unit="",
        ),
        Target(
            "O share of sessions, secondary / primary",
            "all",
            float(o_share.get("secondary", 0) / max(o_share.get("primary", 0), 1e-9)),
            2.6 / 0.7,
            2.0,
            6.0,
            "DfE 2024/25: 2.6% / 0.7%",
            unit="",
        ),
        Target(
            "L share of sessions",
            "all",
            float(code.eq("L").mean()),
            0.0187,
            0.014,
            0.024,
            "DfE 2024/25",
        ),
        Target(
            "U share of sessions",
            "all",
            float(code.eq("U").mean()),
            0.0022,
            0.0008,
            0.004,
            "DfE 2024/25",
        ),
    ]


def calibration_report(authority) -> tuple[list[Target], Outcomes]:  # type: ignore[no-untyped-def]
    """Every target, measured from ``authority``'s marks."""
    outcomes = measure(authority)
    enrolments = outcomes.enrolments[outcomes.enrolments["possible"] > 0]
    regime = authority.config.regime
    targets = [
        *band_targets(enrolments, regime),
        *term_targets(enrolments, regime),
        *persistence_targets(enrolments),
        *shape_targets(outcomes, authority),
    ]
    return targets, outcomes


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if not np.isfinite(value):
        return "∞" if value > 0 else "-∞"
    return f"{100 * value:.2f}%" if unit == "%" else f"{value:.3f}"


def format_report(targets: list[Target]) -> str:
    """Targets as a plain-text table: simulated, real, accepted range, pass/fail."""
    header = f"{'target':<48} {'group':<10} {'simulated':>10} {'real':>10} {'range':>20}  ok"
    lines = [header, "-" * len(header)]
    for t in targets:
        span = (
            f"{format_value(t.low, t.unit)}..{format_value(t.high, t.unit)}"
            if t.judged
            else "not judged"
        )
        verdict = "" if not t.judged else ("yes" if t.passes else "NO")
        lines.append(
            f"{t.name:<48} {t.group:<10} {format_value(t.simulated, t.unit):>10} "
            f"{format_value(t.real, t.unit):>10} {span:>20}  {verdict}"
        )
    failed = [t for t in targets if not t.passes]
    lines.append("")
    lines.append(
        f"{len(targets) - len(failed)} of {len(targets)} targets met"
        + (f"; missed: {', '.join(f'{t.name} ({t.group})' for t in failed)}" if failed else "")
    )
    return "\n".join(lines)


def pa_so_far_table(outcomes: Outcomes, weeks: tuple[int, ...] = (2, 6, 12, 18, 24, 30, 36)) -> str:
    """Persistent absence so far at a few school weeks, per phase (the shape of the year)."""
    enrolments = outcomes.enrolments
    lines = [f"{'PA so far, week':<16}" + "".join(f"{w:>7}" for w in weeks)]
    for phase in PHASES:
        for year in sorted(enrolments["academic_year"].unique()):
            rows = (enrolments["phase"] == phase) & (enrolments["academic_year"] == year)
            if not rows.any():
                continue
            curve = outcomes.pa_so_far(rows.to_numpy())
            lines.append(
                f"{phase[:9] + ' ' + year[-5:]:<16}"
                + "".join(f"{100 * curve[w - 1]:>6.1f}%" for w in weeks)
            )
    return "\n".join(lines)
