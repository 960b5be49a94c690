"""The DfE figures the simulator is calibrated to, and the rate distributions it draws from.

Source data: ``simulator/data/absence_bands_national.csv`` (see ``simulator/data/SOURCE.md``):
the number of enrolments of pupils aged 5–15 in England in each 5% band of annual absence rate
(0–5%, …, 45–50%, 50%+), by academic year × phase × FSM × SEN × sex × national curriculum year.

* :func:`load_absence_bands` reads it (through ``importlib.resources``, so it works from an
  installed package) with the simulator's names: ``phase`` primary/secondary/special, ``fsm``
  1/0/-1, ``sen_any`` 1/0/-1, ``sex`` F/M/U (-1 and U = the DfE's *Unclassified*).
* :class:`RateDistributions` turns the bands of one *regime* year into a quantile function per
  cell (phase × FSM × any SEN × sex × year group): the simulator maps a pupil's latent
  percentile through it to get the pupil's annual absence rate. Within a band the rate is not
  uniform: the 0–5% band has a density falling away from zero (a power law, exponent
  :data:`ZERO_BAND_SHAPE`, which sets the share of pupils with little or no absence and,
  with it, the overall absence rate), the 5–50% bands follow the slope of the phase's band
  shares (a truncated exponential), and 50%+ has a density falling linearly to 100%.
* Enrolments the DfE could not match to census characteristics (``Unclassified``: about 0.9%
  of enrolments, a third of them severely absent — mostly short part-year enrolments) get the
  phase's *Unclassified* distribution; the simulator uses it for pupils who join from outside
  the LA after the spring census day or leave the LA before it.
* :data:`PUBLISHED` holds the published headline figures (overall and unauthorised absence by
  phase, illness share) that the simulator reproduces but does not draw from.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np
import pandas as pd

BAND_COLUMNS = [
    "band_00_05",
    "band_05_10",
    "band_10_15",
    "band_15_20",
    "band_20_25",
    "band_25_30",
    "band_30_35",
    "band_35_40",
    "band_40_45",
    "band_45_50",
    "band_50_plus",
]
BAND_LABELS = [
    "0-5%",
    "5-10%",
    "10-15%",
    "15-20%",
    "20-25%",
    "25-30%",
    "30-35%",
    "35-40%",
    "40-45%",
    "45-50%",
    "50%+",
]
BAND_WIDTH = 0.05
N_BANDS = len(BAND_COLUMNS)
PA_BAND = 2  # bands from 10% are persistent absence
SEVERE_BAND = 10  # 50%+

REGIMES = ("2018/19", "2022/23")
"""Academic years whose DfE figures can set the simulator's targets (``--regime``)."""

_PHASE_NAMES = {
    "State-funded primary": "primary",
    "State-funded secondary": "secondary",
    "Special": "special",
}
PHASE_ORDER = ("primary", "secondary", "special")
YEAR_GROUPS = tuple(range(1, 12))


@dataclass(frozen=True)
class PublishedFigures:
    """Published DfE headline figures for one academic year (pupils aged 5–15, state-funded
    primary, secondary and special schools), as shares of possible sessions."""

    overall_absence: dict[str, float]
    unauthorised_absence: dict[str, float]
    overall_absence_all: float
    illness_rate: float


PUBLISHED: dict[str, PublishedFigures] = {
    # DfE, Pupil absence in schools in England 2018/19 (March 2020): overall 4.0 / 5.5 / 10.1;
    # unauthorised 1.1 / 1.8 / 2.3; all schools 4.7; illness about 55% of absence (autumn
    # 2018 release: 55.5%).
    "2018/19": PublishedFigures(
        overall_absence={"primary": 0.040, "secondary": 0.055, "special": 0.101},
        unauthorised_absence={"primary": 0.011, "secondary": 0.018, "special": 0.023},
        overall_absence_all=0.0473,
        illness_rate=0.026,
    ),
    # DfE, Pupil absence in schools in England 2022/23 (March 2024): overall 5.9 / 9.0 / 13.0;
    # authorised 4.2 / 5.6 / 9.9 (so unauthorised 1.7 / 3.4 / 3.1); all schools 7.4; illness
    # 3.7% of sessions.
    "2022/23": PublishedFigures(
        overall_absence={"primary": 0.059, "secondary": 0.090, "special": 0.130},
        unauthorised_absence={"primary": 0.017, "secondary": 0.034, "special": 0.031},
        overall_absence_all=0.074,
        illness_rate=0.037,
    ),
}

ZERO_BAND_SHAPE: dict[str, dict[str, float]] = {
    "2018/19": {"primary": 0.52, "secondary": 0.48, "special": 0.55},
    "2022/23": {"primary": 0.70, "secondary": 0.48, "special": 0.80},
}
"""Exponent ``a`` of the rate's distribution inside the 0–5% band, ``F(x) ∝ x**a``.

``a = 1`` would be uniform; smaller values put more pupils near zero absence. Tuned so that
the simulated overall absence rate per phase (sessions missed ÷ possible sessions, measured
from the marks) comes close to the published figure in :data:`PUBLISHED` — see
``docs/simulator.md`` for the measured values."""

DISENGAGED_SHARE: dict[str, dict[str, float]] = {
    "2018/19": {"primary": 0.19, "secondary": 0.35, "special": 0.27},
    "2022/23": {"primary": 0.23, "secondary": 0.44, "special": 0.30},
}
"""Share of absence that is disengagement-type (mostly unauthorised ``O``; also suspensions,
reduced timetables, ``U``, ``N``) per phase. With term-time holidays (``G``) it makes the
unauthorised absence rate; tuned so that the simulated unauthorised rate per phase comes close
to :data:`PUBLISHED` (see ``docs/simulator.md``)."""

ILLNESS_SEASON: dict[str, tuple[int, float]] = {
    # UKHSA, Surveillance of influenza and other seasonal respiratory viruses in the UK,
    # winter 2022 to 2023: influenza and group A streptococcus peaked in December 2022 (weeks
    # 49-51), an early and high season; DfE term figures: primary illness 4.4% of sessions in
    # autumn 2022 against 3.5% in spring 2023. Peak late November to early December (the cosine
    # is broad); amplitude an assumption.
    "2022/23": (325, 0.3),
    # Public Health England, Surveillance of influenza and other respiratory viruses in the UK,
    # winter 2018 to 2019: a moderate season peaking in late January 2019. Amplitude an
    # assumption.
    "2018/19": (25, 0.2),
}
"""Per regime: (day of year of the illness peak, amplitude of the cosine season)."""


@dataclass(frozen=True)
class Epidemic:
    """A winter wave of flu-like illness: onsets spread as a normal curve around ``peak_day``
    (day of year, ``sd_days`` wide), ``attack`` = the share of pupils who catch it; spells
    last longer than a cold (``continuation``)."""

    peak_day: int
    sd_days: float
    attack: float
    continuation: float = 0.7


EPIDEMICS: dict[str, Epidemic] = {
    # UKHSA, winter 2022 to 2023: influenza GP consultations of 5-14-year-olds peaked in week 50
    # (mid-December 2022) at the highest level since 2010/11, alongside scarlet fever and group
    # A streptococcus. Symptomatic influenza attack rates in children are ~10-20% a season
    # (Somes et al. 2018, a meta-analysis: ~13% in unvaccinated children), and flu was not
    # alone that December. The DfE's primary illness rate was 1.2 points of sessions higher in
    # autumn 2022 than in autumn 2023 (4.36% against 3.14%), part of it the early season
    # itself: about a fifth of pupils missing three days more. Assumption: 18% catch the wave.
    "2022/23": Epidemic(peak_day=345, sd_days=10, attack=0.18),
    # PHE, winter 2018 to 2019: a moderate season (mostly A(H1N1)pdm09) peaking in late
    # January; assumption: 7% of pupils.
    "2018/19": Epidemic(peak_day=25, sd_days=14, attack=0.07),
}
"""Per regime: the winter's epidemic wave (:class:`Epidemic`)."""

EPISODE_SCALE: dict[str, dict[str, float]] = {
    "2022/23": {},
    # Before the pandemic, fewer pupils struggled with their mental health (NHS, Mental Health
    # of Children and Young People: a probable mental disorder in 12.1% of 7-16-year-olds in
    # 2017, 20.3% of 8-16-year-olds in 2023) and suspensions were rarer (DfE: 5.36 per 100
    # pupils in 2018/19 against 9.33 in 2022/23); referrals to children's social care were
    # about as many (DfE, Characteristics of children in need: 650,000 in 2018/19 and 2022/23).
    "2018/19": {"anxiety": 0.6, "disengagement": 0.6, "suspension": 0.57},
}
"""Per regime and kind of episode (and ``suspension``): a factor on the onset hazard (1 where
not given), from the regime year's published figures."""

TAIL_MEAN = 2 / 3
"""Mean annual absence rate of severe absentees (50%+ band): density falling linearly from
50% to 100%."""


@functools.cache
def _read_bands() -> pd.DataFrame:
    resource = importlib.resources.files("simulator").joinpath("data/absence_bands_national.csv")
    with importlib.resources.as_file(resource) as path:
        raw = pd.read_csv(path, dtype={"academic_year": str})
    frame = pd.DataFrame(
        {
            "academic_year": raw["academic_year"].astype(str),
            "phase": raw["phase"].map(_PHASE_NAMES),
            "fsm": raw["fsm"].map({"Eligible": 1, "Not Eligible": 0}).fillna(-1).astype(int),
            "sen_any": raw["sen"]
            .map({"Any special educational need": 1, "No identified special educational need": 0})
            .fillna(-1)
            .astype(int),
            "sex": raw["sex"].map({"Female": "F", "Male": "M"}).fillna("U"),
            "year_group": raw["nc_year"].astype(int),
        }
    )
    for column in BAND_COLUMNS:
        frame[column] = raw[column].astype("int64")
    frame["enrolments"] = frame[BAND_COLUMNS].sum(axis=1)
    return frame


def load_absence_bands(academic_year: str | None = None) -> pd.DataFrame:
    """The DfE band counts (a copy), optionally for one academic year only.

    Columns: ``academic_year, phase, fsm, sen_any, sex, year_group``, the eleven
    :data:`BAND_COLUMNS` (enrolment counts) and ``enrolments``.
    """
    frame = _read_bands()
    if academic_year is not None:
        if academic_year not in set(frame["academic_year"]):
            years = sorted(frame["academic_year"].unique())
            raise ValueError(f"the DfE band data has no {academic_year}; it has {years}")
        frame = frame[frame["academic_year"] == academic_year]
    return frame.reset_index(drop=True).copy()


def classified(bands: pd.DataFrame) -> pd.DataFrame:
    """Rows with every characteristic known (drops the DfE's *Unclassified* levels)."""
    known = (bands["fsm"] >= 0) & (bands["sen_any"] >= 0) & (bands["sex"] != "U")
    return bands[known]


def band_of(rates: np.ndarray) -> np.ndarray:
    """The DfE band index (0 = 0–5%, …, 10 = 50%+) of annual absence rates.

    Band ``k`` holds rates in ``[5k%, 5(k+1)%)``, so a rate of exactly 10% is persistent
    absence (band 2), as in the DfE's method.
    """
    scaled = np.floor(np.asarray(rates, dtype=float) / BAND_WIDTH + 1e-9)
    return np.clip(scaled, 0, N_BANDS - 1).astype(np.int64)


def band_shares(counts: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Band counts → shares (rows of a frame, or one series)."""
    if isinstance(counts, pd.Series):
        return counts[BAND_COLUMNS] / counts[BAND_COLUMNS].sum()
    sub = counts[BAND_COLUMNS]
    return sub.div(sub.sum(axis=1), axis=0)


# --- quantile functions -----------------------------------------------------------------------


def _band_slopes(shares: np.ndarray) -> np.ndarray:
    """Per band 1–9, the decay rate (per unit of absence rate) of a truncated exponential
    density that follows the slope of the neighbouring band shares; zero = uniform."""
    beta = np.zeros(N_BANDS)
    for k in range(1, N_BANDS - 1):
        left = shares[k - 1]
        right = shares[k + 1] if k + 1 < N_BANDS - 1 else shares[k]
        span = 2 * BAND_WIDTH if k + 1 < N_BANDS - 1 else BAND_WIDTH
        if left > 0 and right > 0:
            beta[k] = max(np.log(left / right) / span, 0.0)
    return np.minimum(beta, 80.0)


def _within_band(
    band: np.ndarray, v: np.ndarray, zero_shape: np.ndarray, beta: np.ndarray
) -> np.ndarray:
    """Map ``v`` in [0, 1) to a rate inside ``band`` (vectorised over arrays of equal size)."""
    rate = np.empty_like(v)
    zero = band == 0
    rate[zero] = BAND_WIDTH * v[zero] ** (1.0 / zero_shape[zero])
    tail = band == N_BANDS - 1
    rate[tail] = 0.5 + 0.5 * (1.0 - np.sqrt(1.0 - v[tail]))
    mid = ~zero & ~tail
    b = beta[mid]
    lower = band[mid] * BAND_WIDTH
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(
            b > 1e-6,
            -np.log1p(-v[mid] * (1.0 - np.exp(-b * BAND_WIDTH))) / b,
            v[mid] * BAND_WIDTH,
        )
    rate[mid] = lower + np.minimum(offset, BAND_WIDTH * (1 - 1e-9))
    return rate


class RateDistributions:
    """Per-cell quantile functions of the annual absence rate for one regime year.

    A cell is (phase, fsm, sen_any, sex, year_group). Cells with fewer than ``min_count``
    national enrolments fall back to (phase, fsm, sen_any, year_group), then to (phase, fsm,
    sen_any), so a rare combination never gets a noisy distribution.
    """

    def __init__(self, regime: str, min_count: int = 300) -> None:
        if regime not in REGIMES:
            raise ValueError(f"regime {regime!r} is not one of {', '.join(REGIMES)}")
        self.regime = regime
        bands = load_absence_bands(regime)
        known = classified(bands)
        self._cells = self._cell_table(known, min_count)
        self._phase_beta = {
            phase: _band_slopes(
                band_shares(known.loc[known["phase"] == phase, BAND_COLUMNS].sum()).to_numpy()
            )
            for phase in PHASE_ORDER
        }
        unknown = bands[(bands["fsm"] < 0) | (bands["sen_any"] < 0) | (bands["sex"] == "U")]
        self._unclassified = {
            phase: np.cumsum(
                band_shares(unknown.loc[unknown["phase"] == phase, BAND_COLUMNS].sum()).to_numpy()
            )
            for phase in PHASE_ORDER
        }

    @staticmethod
    def _cell_table(known: pd.DataFrame, min_count: int) -> dict[tuple, np.ndarray]:
        """Cumulative band shares per cell key, with the fallbacks already resolved."""
        levels = {
            "full": ["phase", "fsm", "sen_any", "sex", "year_group"],
            "no_sex": ["phase", "fsm", "sen_any", "year_group"],
            "coarse": ["phase", "fsm", "sen_any"],
        }
        sums = {
            name: known.groupby(keys, observed=True)[BAND_COLUMNS].sum()
            for name, keys in levels.items()
        }
        table: dict[tuple, np.ndarray] = {}
        for phase in PHASE_ORDER:
            for fsm in (0, 1):
                for sen in (0, 1):
                    coarse = sums["coarse"].loc[(phase, fsm, sen)]
                    for sex in ("F", "M"):
                        for year in YEAR_GROUPS:
                            counts = coarse
                            for name, key in (
                                ("full", (phase, fsm, sen, sex, year)),
                                ("no_sex", (phase, fsm, sen, year)),
                            ):
                                if key in sums[name].index:
                                    row = sums[name].loc[key]
                                    if row.sum() >= min_count:
                                        counts = row
                                        break
                            shares = counts.to_numpy(dtype=float) / counts.sum()
                            table[(phase, fsm, sen, sex, year)] = np.cumsum(shares)
        return table

    def rates(
        self,
        u: np.ndarray,
        phase: np.ndarray,
        fsm: np.ndarray,
        sen_any: np.ndarray,
        sex: np.ndarray,
        year_group: np.ndarray,
        unclassified: np.ndarray | None = None,
    ) -> np.ndarray:
        """Annual absence rates for percentiles ``u`` in (0, 1) of each pupil's cell.

        ``phase`` and ``sex`` hold strings (primary/secondary/special, F/M), the others ints.
        Where ``unclassified`` is true the phase's *Unclassified* distribution is used.
        """
        u = np.asarray(u, dtype=float)
        n = len(u)
        keys = pd.MultiIndex.from_arrays(
            [
                np.asarray(phase),
                np.asarray(fsm),
                np.asarray(sen_any),
                np.asarray(sex),
                np.asarray(year_group),
            ]
        )
        codes, uniques = keys.factorize()
        try:
            table = np.stack([self._cells[tuple(key)] for key in uniques])
        except KeyError as exc:
            raise ValueError(f"no absence distribution for pupil cell {exc.args[0]}") from None
        cum = table[codes]
        if unclassified is not None and np.any(unclassified):
            for name in PHASE_ORDER:
                rows = np.asarray(unclassified) & (np.asarray(phase) == name)
                cum[rows] = self._unclassified[name]
        cum[:, -1] = 1.0
        band = np.minimum((u[:, None] >= cum[:, :-1]).sum(axis=1), N_BANDS - 1)
        lower = np.where(band > 0, cum[np.arange(n), np.maximum(band - 1, 0)], 0.0)
        width = cum[np.arange(n), band] - lower
        v = np.clip((u - lower) / np.where(width > 0, width, 1.0), 0.0, 1.0 - 1e-12)
        zero_shape = np.array([ZERO_BAND_SHAPE[self.regime][p] for p in PHASE_ORDER])
        phase_index = pd.Categorical(np.asarray(phase), categories=PHASE_ORDER).codes
        beta = np.stack([self._phase_beta[p] for p in PHASE_ORDER])[phase_index, band]
        return _within_band(band, v, zero_shape[phase_index], beta)


def characteristic_shares(regime: str) -> pd.DataFrame:
    """Joint shares of (fsm, sen_any, sex) per (phase, year_group) in the regime year.

    Columns ``phase, year_group, fsm, sen_any, sex, share`` (shares sum to 1 within each phase
    and year group). Only the DfE's classified rows are used.
    """
    known = classified(load_absence_bands(regime))
    counts = known.groupby(
        ["phase", "year_group", "fsm", "sen_any", "sex"], observed=True, as_index=False
    )["enrolments"].sum()
    totals = counts.groupby(["phase", "year_group"])["enrolments"].transform("sum")
    counts["share"] = counts["enrolments"] / totals
    return counts.drop(columns="enrolments")


def special_school_share(regime: str) -> pd.Series:
    """Share of each year group's pupils on roll in special schools (index: year group)."""
    bands = load_absence_bands(regime)
    per = bands.groupby(["year_group", "phase"])["enrolments"].sum().unstack(fill_value=0)
    return per["special"] / per.sum(axis=1)


def unclassified_share(regime: str) -> dict[str, float]:
    """Share of each phase's enrolments that the DfE could not match to census
    characteristics (its *Unclassified* rows: mostly short part-year enrolments)."""
    bands = load_absence_bands(regime)
    unknown = (bands["fsm"] < 0) | (bands["sen_any"] < 0) | (bands["sex"] == "U")
    total = bands.groupby("phase")["enrolments"].sum()
    return (bands[unknown].groupby("phase")["enrolments"].sum() / total).to_dict()


def year_group_shares(regime: str) -> pd.Series:
    """Share of the DfE's enrolments (all phases) in each year group 1–11 (index: year
    group): national cohorts differ in size (in 2018/19 Year 1 was a quarter larger than
    Year 11)."""
    per = load_absence_bands(regime).groupby("year_group")["enrolments"].sum()
    return per / per.sum()


# --- the baseline's fit --------------------------------------------------------------------------

FIT_KNOTS = (0.0, 0.3, 0.5, 0.65, 0.75, 0.83, 0.9, 0.95, 0.98, 0.99, 0.997, 1.0)
"""Percentiles at which the deflation of the background rate is fitted (linear between)."""


@dataclass(frozen=True)
class BaselineFit:
    """What :mod:`simulator.fit` fitted for one regime: per group (phase, FSM, any SEN; or
    phase and *Unclassified*) the deflation ``k(u)`` of the background rate at
    :data:`FIT_KNOTS`, and per phase the intercept of the logit of the background's share of
    other (mostly unauthorised) absence."""

    regime: str
    factors: dict[str, tuple[float, ...]]
    other_intercept: dict[str, float]
    provenance: dict[str, object]

    @staticmethod
    def group_key(phase: str, fsm: int, sen_any: int, unclassified: bool) -> str:
        return f"{phase}|unclassified" if unclassified else f"{phase}|fsm={fsm}|sen={sen_any}"

    def factor(
        self,
        u: np.ndarray,
        phase: np.ndarray,
        fsm: np.ndarray,
        sen_any: np.ndarray,
        unclassified: np.ndarray,
    ) -> np.ndarray:
        """``k(u)`` for each enrolment (1 where the group was never fitted)."""
        keys = np.array(
            [
                self.group_key(p, int(f), int(s), bool(c))
                for p, f, s, c in zip(phase, fsm, sen_any, unclassified, strict=True)
            ]
        )
        out = np.ones(len(u))
        for key in np.unique(keys):
            rows = keys == key
            if key in self.factors:
                out[rows] = np.interp(u[rows], FIT_KNOTS, self.factors[key])
        return out

    @classmethod
    def neutral(cls, regime: str) -> BaselineFit:
        """No deflation; intercepts from the share of unauthorised absence (a starting point
        for the fit)."""
        share = DISENGAGED_SHARE[regime]
        return cls(
            regime=regime,
            factors={},
            other_intercept={p: float(np.log(s / (1 - s))) for p, s in share.items()},
            provenance={"fitted": False},
        )


FIT_FILE = "data/baseline_fit.json"


def baseline_fit(regime: str) -> BaselineFit:
    """The shipped fit for ``regime`` (``simulator/data/baseline_fit.json``), or the neutral
    starting point when it has none."""
    import json

    resource = importlib.resources.files("simulator").joinpath(FIT_FILE)
    if not resource.is_file():
        return BaselineFit.neutral(regime)
    fits = json.loads(resource.read_text(encoding="utf-8"))
    if regime not in fits:
        return BaselineFit.neutral(regime)
    entry = fits[regime]
    return BaselineFit(
        regime=regime,
        factors={k: tuple(v) for k, v in entry["factors"].items()},
        other_intercept=dict(entry["other_intercept"]),
        provenance=dict(entry.get("provenance", {})),
    )


# --- within-year figures -------------------------------------------------------------------------

TERM_FILE = "data/term_absence_2022_23_2023_24.csv"
_TERM_PHASES = {"Primary": "primary", "Secondary": "secondary", "Special": "special"}
_TERM_PERIODS = {"autumn": "autumn", "spring": "spring", "academic year": "year"}


@functools.cache
def _read_terms() -> pd.DataFrame:
    resource = importlib.resources.files("simulator").joinpath(TERM_FILE)
    with importlib.resources.as_file(resource) as path:
        return pd.read_csv(path, dtype={"academic_year": str})


def term_figures(academic_year: str, level: str = "National") -> pd.DataFrame:
    """The DfE's autumn, spring and whole-year figures of one academic year (register data,
    ``term_absence_2022_23_2023_24.csv``): one row per phase (primary/secondary/special) and
    period (autumn/spring/year) with ``overall_absence``, ``unauthorised_absence``,
    ``illness`` and ``pa`` as fractions, and the summer term's absence and illness derived
    from the year and the two terms (the file has no summer rows; PA cannot be derived).
    Empty for a year the file does not hold."""
    raw = _read_terms()
    rows = raw[
        (raw["academic_year"] == academic_year)
        & (raw["geographic_level"] == level)
        & raw["phase"].isin(_TERM_PHASES)
    ]
    frame = pd.DataFrame(
        {
            "phase": rows["phase"].map(_TERM_PHASES).to_numpy(),
            "period": rows["period"].map(_TERM_PERIODS).to_numpy(),
            "possible": rows["possible_sessions"].to_numpy(dtype=float),
            "overall_absence": rows["overall_absence_perc"].to_numpy() / 100,
            "unauthorised_absence": rows["unauthorised_absence_perc"].to_numpy() / 100,
            "illness": rows["illness_perc"].to_numpy() / 100,
            "pa": rows["pa_perc"].to_numpy() / 100,
        }
    )
    summers = []
    for phase, group in frame.groupby("phase"):
        by = group.set_index("period")
        if not {"autumn", "spring", "year"} <= set(by.index):
            continue
        possible = by.loc["year", "possible"] - by.loc[["autumn", "spring"], "possible"].sum()
        derived = {"phase": phase, "period": "summer", "possible": possible, "pa": np.nan}
        for column in ("overall_absence", "unauthorised_absence", "illness"):
            missed = (by[column] * by["possible"]).to_dict()
            derived[column] = (missed["year"] - missed["autumn"] - missed["spring"]) / possible
        summers.append(derived)
    return pd.concat([frame, pd.DataFrame(summers)], ignore_index=True)
