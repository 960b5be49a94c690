"""Fit the background's level so that the whole process reproduces the DfE's distribution.

In the simulator, a pupil's year is the sum of a background (their stable propensity, drifting),
episodes that begin during the year, and chance. The DfE publishes the *result*: the
distribution of annual absence rates per phase × FSM × SEN × sex × year group. This module
finds the one thing that cannot be read off a publication — how much of that distribution is
background — by iterating on a large simulated authority:

1. simulate with the current fit; measure every enrolment's annual rate from the marks;
2. per group (phase × FSM × any SEN, and each phase's *Unclassified* enrolments), compare the
   quantiles of the realised rates with those of the DfE's distribution (each enrolment's DfE
   rate at its percentile, the ``target_rate`` of the truth, times the phase's level between
   the census and the registers, :func:`between_the_sources`) at the band edges and a few low
   and top percentiles, and scale the background's deflation ``k(u)`` by their ratio;
3. per phase, move the intercept of the background's other share towards the DfE's
   unauthorised absence rate.

Only levels are fitted; every dynamic parameter (seasons, episodes, drift) stays as
``Dynamics`` sets it, sourced or marked as an assumption — so the within-year figures and the
persistence between years are predictions of the mechanism, which the calibration report
checks against real data. The fit never sees a model's results.

Run ``python -m simulator.fit`` after changing the mechanism; it rewrites
``simulator/data/baseline_fit.json`` (a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.calibration import (
    BAND_COLUMNS,
    FIT_KNOTS,
    PUBLISHED,
    REGIMES,
    BaselineFit,
    band_of,
    baseline_fit,
    load_absence_bands,
    term_figures,
)
from simulator.config import SimulationConfig
from simulator.measure import measure

FIT_PATH = Path(__file__).parent / "data" / "baseline_fit.json"
STEP = 0.7  # damped: each rate is only partly background, and chance moves the quantiles
MAX_STEP = 1.25  # no knot moves by more than a quarter in one iteration
FLOOR = 0.003  # rates are compared as (q + FLOOR): the 0-5% band is mostly near zero


def group_keys(enrolments: pd.DataFrame) -> np.ndarray:
    """The fit's group of each enrolment (:meth:`BaselineFit.group_key`)."""
    unclassified = enrolments["unclassified"].fillna(False).to_numpy(dtype=bool)
    return np.array(
        [
            BaselineFit.group_key(p, int(f), int(s), bool(c))
            for p, f, s, c in zip(
                enrolments["phase"],
                enrolments["fsm"].fillna(0),
                enrolments["sen_any"].fillna(0),
                unclassified,
                strict=True,
            )
        ]
    )


def _ratio_points(realised: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the realised distribution should move: at the DfE's band edges (the percentile
    at which the target reaches 5%, 10%, ..., 50%: the bands, PA and severe absence), and at
    low and top percentiles (the shape inside the 0-5% band, which sets the overall rate, and
    the severe tail), the ratio of the target's quantile to the realised one."""
    # Below the 30th percentile (inside the 0-5% band) one factor: it sets the overall rate.
    edges = np.arange(1, 11) * 0.05
    at_edges = np.searchsorted(np.sort(target), edges) / len(target)
    inner = np.concatenate([[0.3], at_edges, [0.99, 0.997]])
    inner = np.unique(np.clip(inner, 0.3, 0.997))
    ratio = (np.quantile(target, inner) + FLOOR) / (np.quantile(realised, inner) + FLOOR)
    return inner, ratio


def between_the_sources(enrolments: pd.DataFrame, regime: str) -> dict[str, float]:
    """Per phase, the factor on the DfE's census rates that puts the phase's PA halfway
    between the census figure and the register figure of the same year (1 where the regime
    has no register figures).

    The DfE's two sources disagree on the level of the same year (2022/23 PA: primary 16.2% in
    the census against 17.2% in the registers, secondary 26.5% against 28.3%, special 38.3%
    against 38.7%: the registers come from 80-90% of schools and count every session), and the
    calibration holds the simulator to both within 1.5 points; halfway is within both."""
    registers = term_figures(regime)
    bands = load_absence_bands(regime)
    level = {}
    for phase, rows in enrolments.groupby("phase"):
        year = registers[(registers["phase"] == phase) & (registers["period"] == "year")]
        if year.empty:
            level[phase] = 1.0
            continue
        census = bands.loc[bands["phase"] == phase, BAND_COLUMNS].sum().to_numpy(float)
        aim = 0.5 * (census[2:].sum() / census.sum() + float(year["pa"].iloc[0]))
        target = rows["target_rate"].to_numpy()
        low, high = 0.8, 1.25
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if (mid * target >= 0.1).mean() < aim else (low, mid)
        level[phase] = (low + high) / 2
    return level


def _updated_factors(
    fit: BaselineFit, enrolments: pd.DataFrame, keys: np.ndarray, level: dict[str, float]
) -> dict[str, tuple[float, ...]]:
    knots = np.array(FIT_KNOTS)
    factors = {}
    for key in np.unique(keys):
        rows = keys == key
        if rows.sum() < 200:
            continue
        realised = enrolments.loc[rows, "rate_census"].to_numpy()
        target = enrolments.loc[rows, "target_rate"].to_numpy()
        target = target * enrolments.loc[rows, "phase"].map(level).to_numpy()
        points, ratio = _ratio_points(realised, target)
        old = np.array(fit.factors.get(key, (1.0,) * len(knots)))
        step = np.clip(np.interp(knots, points, ratio) ** STEP, 1 / MAX_STEP, MAX_STEP)
        factors[key] = tuple(float(v) for v in np.clip(old * step, 0.05, 3.0))
    return factors


def _updated_intercepts(fit: BaselineFit, enrolments: pd.DataFrame, regime: str) -> dict:
    published = PUBLISHED[regime].unauthorised_absence
    intercepts = dict(fit.other_intercept)
    for phase, rows in enrolments.groupby("phase"):
        simulated = rows["unauthorised"].sum() / rows["possible"].sum()
        intercepts[phase] += 1.6 * float(np.log(published[phase] / simulated))
    return intercepts


def discrepancies(enrolments: pd.DataFrame, regime: str) -> pd.DataFrame:
    """Per phase: band TVD, PA, severe and overall absence, simulated against the DfE."""
    bands = load_absence_bands(regime)
    rows = []
    for phase, group in enrolments.groupby("phase"):
        national = bands.loc[bands["phase"] == phase, BAND_COLUMNS].sum().to_numpy(float)
        national /= national.sum()
        counts = np.bincount(band_of(group["rate_census"].to_numpy()), minlength=11)
        simulated = counts / len(group)
        rows.append(
            {
                "phase": phase,
                "tvd": 0.5 * np.abs(simulated - national).sum(),
                "pa": simulated[2:].sum(),
                "pa_dfe": national[2:].sum(),
                "severe": simulated[10],
                "severe_dfe": national[10],
                "absence": group["absent_census"].sum() / group["possible_census"].sum(),
                "absence_dfe": PUBLISHED[regime].overall_absence[phase],
                "unauthorised": group["unauthorised"].sum() / group["possible"].sum(),
                "unauthorised_dfe": PUBLISHED[regime].unauthorised_absence[phase],
            }
        )
    return pd.DataFrame(rows)


def fit_baseline(
    regime: str,
    pupils: int = 60_000,
    seed: int = 20_251_203,
    iterations: int = 8,
    start: BaselineFit | None = None,
) -> BaselineFit:
    """Iterate the fit from ``start`` (default: the neutral start; see the module docstring)."""
    fit = start or BaselineFit.neutral(regime)
    # Many small schools, so that the schools' random effects (absence, coding culture)
    # average out instead of being absorbed into the fit.
    config = SimulationConfig(
        pupils=pupils,
        schools=max(pupils // 250, 3),
        years=("2023/24", "2024/25"),
        regime=regime,
        seed=seed,
        special_pupil_factor=6,
    )
    for iteration in range(1, iterations + 1):
        authority = simulate_with(config, fit)
        enrolments = measure(authority).enrolments
        enrolments = enrolments[enrolments["possible_census"] > 0].reset_index(drop=True)
        report = discrepancies(enrolments, regime)
        print(f"iteration {iteration}:")
        print(report.round(4).to_string(index=False))
        keys = group_keys(enrolments)
        level = between_the_sources(enrolments, regime)
        fit = replace(
            fit,
            factors=_updated_factors(fit, enrolments, keys, level),
            other_intercept=_updated_intercepts(fit, enrolments, regime),
        )
    return replace(
        fit,
        provenance={
            "fitted": dt.date.today().isoformat(),
            "pupils": pupils,
            "seed": seed,
            "iterations": iterations,
            "level_between_sources": level,
            "last_iteration": report.round(4).to_dict("records"),
        },
    )


def simulate_with(config: SimulationConfig, fit: BaselineFit):  # type: ignore[no-untyped-def]
    from simulator.authority import simulate_authority

    return simulate_authority(replace(config, baseline=fit))


def write_fit(fits: dict[str, BaselineFit], path: Path = FIT_PATH) -> None:
    existing = json.loads(path.read_text()) if path.is_file() else {}
    for regime, fit in fits.items():
        existing[regime] = {
            "factors": {k: list(v) for k, v in sorted(fit.factors.items())},
            "other_intercept": fit.other_intercept,
            "provenance": fit.provenance,
        }
    path.write_text(json.dumps(existing, indent=1, default=float) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regime", action="append", choices=REGIMES)
    parser.add_argument("--pupils", type=int, default=60_000)
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument(
        "--warm", action="store_true", help="start from the shipped fit instead of neutral"
    )
    args = parser.parse_args(argv)
    fits = {
        regime: fit_baseline(
            regime,
            pupils=args.pupils,
            iterations=args.iterations,
            start=baseline_fit(regime) if args.warm else None,
        )
        for regime in (args.regime or REGIMES)
    }
    write_fit(fits)
    print(f"wrote {FIT_PATH}")


if __name__ == "__main__":
    main()
