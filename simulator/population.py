"""Schools and pupils of the simulated LA, and how they move from year to year.

* Schools: mostly primary (Years 1–6), about a quarter secondary (Years 7–11), about one in
  fifteen special (Years 1–11); sizes vary (log-normal); each primary has a usual secondary
  that most of its Year 6 pupils move to.
* Pupils: characteristics drawn jointly (FSM × any SEN × sex) from the DfE's enrolment counts
  of the regime year for their phase and year group, so FSM (~24% in 2022/23, ~16% in
  2018/19), SEN and the special-school share by year group are realistic; SEN provision splits
  into SEN support (K) and EHC plan (E: about one in six of mainstream pupils with SEN, every
  pupil in a special school); ethnicity and EAL from the school census (EAL depends on
  ethnicity, ~20% overall).
* Each year: everyone moves up a year; Year 11 leaves; Year 6 moves to a secondary; a new
  Year 1 arrives; a few pupils change school over the summer; special schools take in pupils
  with SEN from mainstream so that their share of each year group matches the DfE's. During the
  year some pupils leave (half of them to another school of the LA) and new pupils join from
  outside; movers are drawn towards pupils with a high latent absence level.
* UPNs: allocated by the school that first admitted the pupil (LA code, establishment number,
  year of allocation, serial; :func:`features.upn.make_upns`), or by another LA for pupils who
  join from outside; unique and kept for life.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd

from features.calendar import academic_year_label, parse_academic_year
from features.upn import make_upns
from simulator import names
from simulator.calibration import (
    characteristic_shares,
    special_school_share,
    unclassified_share,
    year_group_shares,
)
from simulator.config import SimulationConfig
from simulator.terms import default_term_dates

ETHNICITIES = ("White", "Mixed", "Asian", "Black", "Chinese", "Any other", "Unclassified")
ETHNICITY_SHARES = np.array([0.714, 0.069, 0.121, 0.060, 0.005, 0.022, 0.009])
"""Major ethnic groups of pupils in England (school census, January 2023)."""
EAL_BY_ETHNICITY = np.array([0.075, 0.15, 0.70, 0.40, 0.70, 0.75, 0.20])
"""Share with English as an additional language per group (gives ~20% overall)."""
OBSERVANCE_WEIGHT = np.array([0.3, 1.0, 6.0, 2.0, 0.5, 3.0, 1.0])
"""Relative chance of taking religious-observance days (R), per group."""
EHC_SHARE_OF_SEN = {"primary": 0.16, "secondary": 0.18, "special": 1.0}
"""EHC plans among pupils with any SEN (school census 2023: 2.5% vs 13.6% support in primary,
2.4% vs 11.2% in secondary; all pupils in special schools here)."""

PHASES = ("primary", "secondary", "special")
OTHER_LA_CODES = np.arange(980, 990)  # fictional LAs that joiners come from
URN_SPAN = 50_000  # an authority's URNs are drawn from config.urn_base + [0, URN_SPAN)
OVERFLOW_ESTABLISHMENT = 9000  # pseudo establishment numbers when 1,000 serials run out


def phase_of_year_group(year_group: np.ndarray) -> np.ndarray:
    """Mainstream phase of a year group: primary for Years 1–6, secondary for 7–11."""
    return np.where(np.asarray(year_group) <= 6, "primary", "secondary")


@functools.cache
def first_school_day(academic_year: str) -> dt.date:
    """First pupil day of the default calendar (used for past entry dates)."""
    return default_term_dates(academic_year).school_days()[0].item()


class UpnAllocator:
    """Hands out unique UPNs: serials 0–999 per (LA, establishment, year of allocation), then
    pseudo establishment numbers from 9000 when a school runs out."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, int, int], int] = {}
        self._overflow: dict[tuple[int, int], int] = {}

    def allocate(self, la: np.ndarray, establishment: np.ndarray, year: np.ndarray) -> np.ndarray:
        """One new UPN per row of the three key arrays (object array of strings)."""
        keys = pd.MultiIndex.from_arrays([np.asarray(la), np.asarray(establishment), year])
        codes, uniques = keys.factorize()
        result = np.empty(len(codes), dtype=object)
        for index, (la_code, estab, yy) in enumerate(uniques):
            rows = np.flatnonzero(codes == index)
            key = (int(la_code), int(estab), int(yy) % 100)
            taken = 0
            while taken < len(rows):
                start = self._next.get(key, 0)
                count = min(1000 - start, len(rows) - taken)
                if count <= 0:
                    pseudo = self._overflow.get((key[0], key[2]), OVERFLOW_ESTABLISHMENT)
                    self._overflow[(key[0], key[2])] = pseudo + 1
                    key = (key[0], pseudo, key[2])
                    continue
                serials = np.arange(start, start + count)
                result[rows[taken : taken + count]] = make_upns(key[0], key[1], key[2], serials)
                self._next[key] = start + count
                taken += count
        return result


def make_schools(config: SimulationConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The LA's schools: ``school_urn, name, phase, la`` plus the simulator's own columns
    ``establishment, weight`` (relative size within the phase), ``absence_effect``,
    ``coding_effect`` (leaning to unauthorised codes), ``late_effect`` and ``feeder`` (for
    primaries: row index of the usual secondary; -1 otherwise)."""
    n = config.school_count
    n_special = max(1, round(n * config.special_school_share))
    n_secondary = max(1, round(n * config.secondary_school_share))
    n_primary = n - n_special - n_secondary
    phase = np.array(
        ["primary"] * n_primary + ["secondary"] * n_secondary + ["special"] * n_special
    )

    first_urn = config.urn_base
    urns = np.sort(rng.choice(np.arange(first_urn, first_urn + URN_SPAN), size=n, replace=False))
    urns = urns.astype(np.int32)
    rng.shuffle(urns)
    establishment = np.concatenate(
        [2001 + np.arange(n_primary), 4001 + np.arange(n_secondary), 7001 + np.arange(n_special)]
    )
    places = [
        stem + ending + suffix
        for suffix in names.PLACE_SUFFIXES
        for stem in names.PLACE_STEMS
        for ending in names.PLACE_ENDINGS
    ]
    base = len(names.PLACE_STEMS) * len(names.PLACE_ENDINGS)
    order = np.concatenate(
        [rng.permutation(base) + k * base for k in range(len(names.PLACE_SUFFIXES))]
    )
    chosen = [places[i % len(places)] for i in order[:n]]
    if n > len(places):
        chosen = [f"{place} {i // len(places) + 1}" for i, place in enumerate(chosen)]
    kinds = {
        "primary": names.PRIMARY_KINDS,
        "secondary": names.SECONDARY_KINDS,
        "special": names.SPECIAL_KINDS,
    }
    school_names = [
        f"{place} {kinds[p][rng.integers(len(kinds[p]))]}"
        for place, p in zip(chosen, phase, strict=True)
    ]
    weight = rng.lognormal(0.0, 0.35, size=n)
    secondaries = np.flatnonzero(phase == "secondary")
    sec_weight = weight[secondaries] / weight[secondaries].sum()
    feeder = np.full(n, -1)
    feeder[phase == "primary"] = rng.choice(secondaries, size=n_primary, p=sec_weight)
    return pd.DataFrame(
        {
            "school_urn": urns,
            "name": school_names,
            "phase": phase,
            "la": config.la_name,
            "establishment": establishment,
            "weight": weight,
            "absence_effect": rng.standard_normal(n),
            "coding_effect": rng.standard_normal(n),
            "late_effect": rng.normal(0.0, 0.35, size=n),
            "feeder": feeder,
        }
    )


def choose_schools(
    schools: pd.DataFrame, phase: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A school (row index) of the given phase for each pupil, by school size."""
    result = np.full(len(phase), -1)
    for name in PHASES:
        rows = np.flatnonzero(phase == name)
        if len(rows) == 0:
            continue
        candidates = np.flatnonzero(schools["phase"].to_numpy() == name)
        weight = schools["weight"].to_numpy()[candidates]
        result[rows] = rng.choice(candidates, size=len(rows), p=weight / weight.sum())
    return result


class Cohort:
    """Draws new pupils' characteristics for one regime (DfE joint shares)."""

    def __init__(self, config: SimulationConfig, upns: UpnAllocator | None = None) -> None:
        self.config = config
        self.shares = characteristic_shares(config.regime)
        self.unclassified_share = unclassified_share(config.regime)
        self.year_shares = year_group_shares(config.regime).reindex(range(1, 12)).to_numpy()
        self.special_share = (
            special_school_share(config.regime) * config.special_pupil_factor
        ).clip(upper=0.5)
        # Shared by the authorities of one region (simulator.region): UPNs are unique in England.
        self.upns = upns or UpnAllocator()
        self.next_pid = 0

    def new_pupils(
        self,
        phase: np.ndarray,
        year_group: np.ndarray,
        academic_year: str,
        rng: np.random.Generator,
        allocated_by: np.ndarray,
    ) -> pd.DataFrame:
        """New pupils (one row each) of the given phase and year group in ``academic_year``.

        ``allocated_by`` is the establishment number that allocated the UPN, or -1 for pupils
        from another LA. Latent columns (``eta``, ``style``...) are drawn here too.
        """
        n = len(phase)
        fsm = np.zeros(n, dtype=np.int8)
        sen_any = np.zeros(n, dtype=np.int8)
        sex = np.empty(n, dtype=object)
        for (ph, yg), group in self.shares.groupby(["phase", "year_group"]):
            rows = np.flatnonzero((phase == ph) & (year_group == yg))
            if len(rows) == 0:
                continue
            p = group["share"].to_numpy()
            pick = rng.choice(len(group), size=len(rows), p=p / p.sum())
            fsm[rows] = group["fsm"].to_numpy()[pick]
            sen_any[rows] = group["sen_any"].to_numpy()[pick]
            sex[rows] = group["sex"].to_numpy()[pick]
        ehc_share = np.array([EHC_SHARE_OF_SEN[p] for p in phase])
        sen = np.where(sen_any == 1, np.where(rng.random(n) < ehc_share, "E", "K"), "N")
        sen[phase == "special"] = "E"  # a place in a special school comes with an EHC plan

        ethnicity = rng.choice(len(ETHNICITIES), size=n, p=ETHNICITY_SHARES)
        eal = (rng.random(n) < EAL_BY_ETHNICITY[ethnicity]).astype(np.int8)
        observance_p = OBSERVANCE_WEIGHT[ethnicity] / (OBSERVANCE_WEIGHT @ ETHNICITY_SHARES)
        observant = rng.random(n) < self.config.dynamics.observance_share * observance_p

        start = parse_academic_year(academic_year)
        born_from = np.array(
            [np.datetime64(f"{start - 5 - g}-09-01") for g in range(12)], dtype="datetime64[D]"
        )[year_group]
        date_of_birth = born_from + rng.integers(0, 365, size=n).astype("timedelta64[D]")

        female = sex == "F"
        forename = np.where(
            female,
            np.array(names.FORENAMES_F, dtype=object)[rng.integers(len(names.FORENAMES_F), size=n)],
            np.array(names.FORENAMES_M, dtype=object)[rng.integers(len(names.FORENAMES_M), size=n)],
        )
        surname = np.array(names.SURNAMES, dtype=object)[rng.integers(len(names.SURNAMES), size=n)]

        # UPNs are allocated on first admission: Reception for pupils of the LA's schools.
        reception_year = start - year_group
        from_outside = allocated_by < 0
        la = np.where(from_outside, rng.choice(OTHER_LA_CODES, size=n), self.config.la_code)
        estab = np.where(from_outside, rng.integers(2001, 2999, size=n), allocated_by)
        upn = self.upns.allocate(la, estab, reception_year)

        pid = np.arange(self.next_pid, self.next_pid + n)
        self.next_pid += n
        return pd.DataFrame(
            {
                "pid": pid,
                "upn": upn,
                "forename": forename,
                "surname": surname,
                "date_of_birth": date_of_birth,
                "sex": sex.astype(str),
                "ethnicity": np.array(ETHNICITIES, dtype=object)[ethnicity],
                "eal": eal,
                "fsm": fsm,
                "sen": sen,
                "observant": observant,
                "year_group": np.asarray(year_group, dtype=np.int64),
                "school": -1,
                "entry_date": pd.NaT,
                # Latent traits (see model.py): persistent level, style, lateness.
                "eta": rng.standard_normal(n),
                "innovation": np.zeros(n),
                "style": rng.standard_normal(n),
                "late_trait": rng.standard_normal(n),
                "left_la": False,
            }
        )


def initial_population(
    config: SimulationConfig,
    schools: pd.DataFrame,
    cohort: Cohort,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Pupils on roll at the start of the first simulated year, Years 1–11."""
    year = config.years[0]
    start = parse_academic_year(year)
    year_group = np.repeat(np.arange(1, 12), _split_by_share(config.pupils, cohort.year_shares))
    special = rng.random(len(year_group)) < cohort.special_share.reindex(year_group).to_numpy()
    phase = np.where(special, "special", phase_of_year_group(year_group))
    school = choose_schools(schools, phase, rng)
    # UPNs were allocated by the pupil's first school: a primary of the LA (or the special
    # school itself).
    primaries = np.flatnonzero(schools["phase"].to_numpy() == "primary")
    first_school = np.where(phase == "secondary", rng.choice(primaries, size=len(phase)), school)
    allocated_by = schools["establishment"].to_numpy()[first_school]
    pupils = cohort.new_pupils(phase, year_group, year, rng, allocated_by)
    pupils["school"] = school
    joined_year = np.where(phase == "secondary", start - (year_group - 7), start - year_group)
    # Some pupils joined their school later than the usual entry year.
    late_joiner = rng.random(len(pupils)) < 0.12
    joined_year = np.where(late_joiner, rng.integers(joined_year, start + 1), joined_year)
    years, which = np.unique(joined_year, return_inverse=True)
    first_days = np.array(
        [first_school_day(academic_year_label(int(y))) for y in years], dtype="datetime64[us]"
    )
    pupils["entry_date"] = first_days[which]  # one calendar per distinct year, not per pupil
    return pupils


def _split_by_share(total: int, shares: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``shares`` (largest remainders)."""
    exact = total * np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: total - counts.sum()]] += 1
    return counts


def next_year(
    pupils: pd.DataFrame,
    config: SimulationConfig,
    schools: pd.DataFrame,
    cohort: Cohort,
    academic_year: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Roll the population on to ``academic_year``: leavers out, everyone up a year, Year 6 to
    secondary, summer moves, transfers to special schools, a new Year 1."""
    first_day = np.datetime64(first_school_day(academic_year), "us")
    phase_of_school = schools["phase"].to_numpy()
    keep = ~pupils["left_la"].to_numpy() & (pupils["year_group"].to_numpy() < 11)
    pupils = pupils[keep].reset_index(drop=True)
    school = pupils["school"].to_numpy().copy()
    year_group = pupils["year_group"].to_numpy() + 1
    entry = pupils["entry_date"].to_numpy().copy()

    # Year 6 → Year 7: most go to their primary's usual secondary.
    to_secondary = (year_group == 7) & (phase_of_school[school] == "primary")
    feeder = schools["feeder"].to_numpy()[school[to_secondary]]
    elsewhere = rng.random(to_secondary.sum()) >= config.feeder_share
    random_choice = choose_schools(schools, np.full(elsewhere.sum(), "secondary"), rng)
    feeder[elsewhere] = random_choice
    school[to_secondary] = feeder
    entry[to_secondary] = first_day

    # Summer moves within a phase (mainstream, not at the Year 7 transfer).
    mainstream = phase_of_school[school] != "special"
    movable = mainstream & ~to_secondary
    movers = movable & (rng.random(len(school)) < config.between_year_move_rate)
    new_school = choose_schools(schools, phase_of_school[school[movers]], rng)
    changed = new_school != school[movers]
    idx = np.flatnonzero(movers)[changed]
    school[idx] = new_school[changed]
    entry[idx] = first_day

    # Transfers to special schools keep each year group's special share at the DfE's.
    sen = pupils["sen"].to_numpy().copy()
    target_share = cohort.special_share.reindex(year_group).to_numpy()
    in_special = phase_of_school[school] == "special"
    for yg in range(2, 12):
        rows = year_group == yg
        deficit = round(target_share[rows][0] * rows.sum()) - int(in_special[rows].sum())
        candidates = np.flatnonzero(rows & ~in_special & (sen != "N"))
        if deficit <= 0 or len(candidates) == 0:
            continue
        weight = np.where(sen[candidates] == "E", 5.0, 1.0)
        chosen = rng.choice(
            candidates, size=min(deficit, len(candidates)), replace=False, p=weight / weight.sum()
        )
        school[chosen] = choose_schools(schools, np.full(len(chosen), "special"), rng)
        sen[chosen] = "E"
        entry[chosen] = first_day

    pupils["school"] = school
    pupils["year_group"] = year_group
    # Pupils whose move came too late last year start at their new school now.
    pupils["entry_date"] = np.where(np.isnat(entry), first_day, entry)
    pupils["sen"] = sen

    # A new Year 1 (Reception children of the LA's schools, UPNs from their school).
    # Year 1 is as large a share of the LA as nationally (so year groups keep the DfE's
    # cohort sizes, and the LA's size drifts as England's does).
    intake = round(config.pupils * cohort.year_shares[0])
    yg1 = np.ones(intake, dtype=np.int64)
    special = rng.random(intake) < cohort.special_share.get(1, 0.0)
    phase = np.where(special, "special", "primary")
    new_school = choose_schools(schools, phase, rng)
    new = cohort.new_pupils(
        phase, yg1, academic_year, rng, schools["establishment"].to_numpy()[new_school]
    )
    new["school"] = new_school
    reception = academic_year_label(parse_academic_year(academic_year) - 1)
    new["entry_date"] = pd.Timestamp(first_school_day(reception))
    return pd.concat([pupils, new], ignore_index=True)


def _third_thursday_of_january(year: int) -> np.datetime64:
    first = dt.date(year, 1, 1)
    thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return np.datetime64(thursday + dt.timedelta(days=14), "D")


def _last_friday_of_june(year: int) -> np.datetime64:
    last = dt.date(year, 6, 30)
    return np.datetime64(last - dt.timedelta(days=(last.weekday() - 4) % 7), "D")


def year_enrolments(
    pupils: pd.DataFrame,
    config: SimulationConfig,
    schools: pd.DataFrame,
    cohort: Cohort,
    academic_year: str,
    school_days: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The enrolments of one academic year, and the population with this year's joiners.

    Everyone on roll at the start is enrolled from the first school day; Year 11 until the
    last Friday in June (the statutory leaving date). Some pupils leave during the year
    (weighted towards high latent level); half of them move to another school of the LA (a
    second enrolment a few days later), the others leave the LA and are replaced by joiners
    from outside. Columns: ``row`` (into the returned population), ``pid, school, year_group,
    start, end`` (school-day indices, inclusive), ``entry_date, leaving_date`` and
    ``unclassified`` (drawn among the enrolments that cross the LA boundary and miss the
    spring census day, as many per phase as the DfE's *Unclassified* share of enrolments).
    """
    n_days = len(school_days)
    end_year = parse_academic_year(academic_year) + 1
    census = int(np.searchsorted(school_days, _third_thursday_of_january(end_year)))
    year11_end = int(np.searchsorted(school_days, _last_friday_of_june(end_year), "right")) - 1
    phase_of_school = schools["phase"].to_numpy()
    rho = config.persistence

    def last_day(year_group: np.ndarray) -> np.ndarray:
        return np.where(year_group == 11, year11_end, n_days - 1)

    n = len(pupils)
    school = pupils["school"].to_numpy()
    year_group = pupils["year_group"].to_numpy()
    start = np.zeros(n, dtype=np.int64)
    end = last_day(year_group)

    # Leavers during the year, weighted towards high latent level.
    weight = np.exp(config.mover_latent_shift * pupils["eta"].to_numpy())
    n_leave = min(round(config.mid_year_leaver_rate * n), n)
    leavers = rng.choice(n, size=n_leave, replace=False, p=weight / weight.sum())
    leave_day = np.minimum(rng.integers(5, n_days - 5, size=n_leave), end[leavers])
    end[leavers] = leave_day
    phase = phase_of_school[school[leavers]]
    several = {p: (phase_of_school == p).sum() > 1 for p in PHASES}
    can_move = np.array([several[p] for p in phase], dtype=bool)
    internal = can_move & (rng.random(n_leave) < config.internal_move_share)

    movers = leavers[internal]
    new_school = choose_schools(schools, phase[internal], rng)
    clash = new_school == school[movers]
    while clash.any():  # another school of the same phase, never the one just left
        new_school[clash] = choose_schools(schools, phase[internal][clash], rng)
        clash = new_school == school[movers]
    move_start = leave_day[internal] + rng.integers(1, 11, size=len(movers))
    moved_in_year = move_start <= last_day(year_group[movers])

    external = leavers[~internal]
    left_la = pupils["left_la"].to_numpy().copy()
    left_la[external] = True

    # Joiners from outside the LA replace those who left it.
    n_join = len(external)
    join_year_group = rng.integers(1, 12, size=n_join)
    special = rng.random(n_join) < cohort.special_share.reindex(join_year_group).to_numpy()
    join_phase = np.where(special, "special", phase_of_year_group(join_year_group))
    join_school = choose_schools(schools, join_phase, rng)
    joiners = cohort.new_pupils(
        join_phase, join_year_group, academic_year, rng, np.full(n_join, -1)
    )
    innovation = rng.standard_normal(n_join)
    joiners["eta"] = (
        rho * joiners["eta"].to_numpy()
        + np.sqrt(1 - rho**2) * innovation
        + config.mover_latent_shift
    )
    joiners["innovation"] = innovation
    joiners["school"] = join_school
    join_end = last_day(join_year_group)
    join_start = np.minimum(rng.integers(5, n_days - 5, size=n_join), join_end)
    joiners["entry_date"] = school_days[join_start].astype("datetime64[us]")

    population = pupils.copy()
    population["left_la"] = left_la
    moved = movers[moved_in_year]
    school_next = school.copy()
    school_next[movers] = new_school
    population["school"] = school_next
    entry = population["entry_date"].to_numpy().copy()
    entry[moved] = school_days[move_start[moved_in_year]].astype("datetime64[us]")
    # A mover whose new place starts after the summer joins on the next year's first day.
    entry[movers[~moved_in_year]] = np.datetime64("NaT")
    population["entry_date"] = entry
    population = pd.concat([population, joiners], ignore_index=True)

    base_entry = pupils["entry_date"].to_numpy()
    frames = {
        "row": np.concatenate([np.arange(n), moved, n + np.arange(n_join)]),
        "school": np.concatenate([school, new_school[moved_in_year], join_school]),
        "start": np.concatenate([start, move_start[moved_in_year], join_start]),
        "end": np.concatenate([end, last_day(year_group[moved]), join_end]),
        "entry_date": np.concatenate(
            [
                base_entry,
                school_days[move_start[moved_in_year]].astype("datetime64[us]"),
                school_days[join_start].astype("datetime64[us]"),
            ]
        ),
    }
    enrolments = pd.DataFrame(frames)
    enrolments["pid"] = population["pid"].to_numpy()[enrolments["row"].to_numpy()]
    enrolments["year_group"] = population["year_group"].to_numpy()[enrolments["row"].to_numpy()]
    last = enrolments["end"].to_numpy()
    ends_early = last < n_days - 1
    enrolments["leaving_date"] = np.where(
        ends_early, school_days[last].astype("datetime64[us]"), np.datetime64("NaT")
    )
    on_census_day = (enrolments["start"].to_numpy() <= census) & (last >= census)
    crosses_boundary = np.zeros(len(enrolments), dtype=bool)
    crosses_boundary[np.isin(enrolments["row"].to_numpy(), external)] = True
    crosses_boundary[len(enrolments) - n_join :] = True
    # The DfE could not classify some of the enrolments that cross the LA boundary and miss
    # the census day: as many, per phase, as its Unclassified share.
    eligible = ~on_census_day & crosses_boundary
    enrolment_phase = phase_of_school[enrolments["school"].to_numpy()]
    unclassified = np.zeros(len(enrolments), dtype=bool)
    for name in PHASES:
        in_phase = enrolment_phase == name
        candidates = np.flatnonzero(in_phase & eligible)
        share = cohort.unclassified_share.get(name, 0.0)
        wanted = min(round(share * in_phase.sum()), len(candidates))
        if wanted > 0:
            unclassified[rng.choice(candidates, size=wanted, replace=False)] = True
    enrolments["unclassified"] = unclassified
    return enrolments, population


def rebalance_characteristics(
    pupils: pd.DataFrame,
    schools: pd.DataFrame,
    cohort: Cohort,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Keep FSM and SEN shares per phase and year group at the regime's DfE shares.

    Pupils carry their characteristics from year to year, so without this a cohort keeps the
    shares of the year group it entered at (and mainstream loses pupils with SEN to special
    schools). The fewest pupils needed change status, chosen at random: becoming eligible for
    FSM, being identified with SEN support, or ceasing to be.
    """
    shares = cohort.shares
    target = shares.groupby(["phase", "year_group"]).apply(
        lambda g: pd.Series(
            {
                "fsm": float(g.loc[g["fsm"] == 1, "share"].sum()),
                "sen_any": float(g.loc[g["sen_any"] == 1, "share"].sum()),
            }
        ),
        include_groups=False,
    )
    phase = schools["phase"].to_numpy()[pupils["school"].to_numpy()]
    year_group = pupils["year_group"].to_numpy()
    fsm = pupils["fsm"].to_numpy().copy()
    sen = pupils["sen"].to_numpy().copy()
    for (ph, yg), row in target.iterrows():
        rows = np.flatnonzero((phase == ph) & (year_group == yg))
        if len(rows) == 0:
            continue
        gap = round(row["fsm"] * len(rows)) - int(fsm[rows].sum())
        pool = rows[fsm[rows] == (0 if gap > 0 else 1)]
        flip = rng.choice(pool, size=min(abs(gap), len(pool)), replace=False)
        fsm[flip] = 1 if gap > 0 else 0
        if ph == "special":
            continue  # every pupil of a special school has an EHC plan
        has_sen = sen[rows] != "N"
        gap = round(row["sen_any"] * len(rows)) - int(has_sen.sum())
        pool = rows[(sen[rows] == "N") if gap > 0 else (sen[rows] == "K")]
        flip = rng.choice(pool, size=min(abs(gap), len(pool)), replace=False)
        sen[flip] = "K" if gap > 0 else "N"
    pupils = pupils.copy()
    pupils["fsm"] = fsm
    pupils["sen"] = sen
    return pupils
