"""The run configuration: one TOML file, validated by pydantic, the single source of truth of a
training run (it is logged with the run).

``training/configs/default.toml`` is the shipped default; every field has a default here too,
so a file only needs the values it changes. Unknown keys are errors (a typo must not be
silently ignored), and so are values of the wrong type (TOML has types: ``"15"`` is not 15).
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.calendar import parse_academic_year
from features.schema import (
    ATTENDANCE_FEATURES,
    DEFAULT_FEATURE_SET,
    FEATURE_SETS,
    RISES_WITH_ABSENCE,
)

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.toml"

AUDIT_ATTRIBUTES = ["fsm", "sen", "sex", "eal", "ethnicity"]
"""Who the pupils are, for the fairness audit only (joined as ``audit_*`` columns, never
features; see :mod:`training.data`)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Section):
    """Which rows: academic years and snapshot weeks."""

    test_year: str | None = None
    """Held-out academic year (``YYYY/YY``); default: the last year with known outcomes."""
    train_years: list[str] | None = None
    """Training years; default: every labelled year before the test year."""
    train_every: int = Field(1, ge=1, le=10)
    """Use every n-th snapshot week for training (evaluation always uses every week)."""
    refit_needs_history: bool = True
    """Leave out of fitting (and of choosing the number of trees) a training year whose
    history features are unknown for every pupil (the first year of the data): unknown only
    because the data window starts there, a situation scoring never meets once the service
    holds a year."""

    @field_validator("test_year")
    @classmethod
    def _year(cls, value: str | None) -> str | None:
        if value is not None:
            parse_academic_year(value)
        return value

    @field_validator("train_years")
    @classmethod
    def _years(cls, value: list[str] | None) -> list[str] | None:
        for year in value or []:
            parse_academic_year(year)
        return value


class LightGBMConfig(_Section):
    """Booster shape and training. Small trees keep TreeSHAP fast enough for scoring with
    reasons (see benchmarks/bench_scoring.py)."""

    num_leaves: int = Field(7, ge=2, le=1024)
    max_depth: int = Field(3, ge=-1, le=32)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_boost_round: int = Field(600, ge=1, le=10_000)
    early_stopping_rounds: int = Field(30, ge=1)
    min_child_samples: int = Field(200, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    num_threads: int = Field(0, ge=0)
    """0 = LightGBM's default (all cores)."""
    monotone_increasing: list[str] = Field(default_factory=lambda: list(RISES_WITH_ABSENCE))
    """Features along which risk may only rise. With all of
    :data:`features.schema.RISES_WITH_ABSENCE` listed, more recent absence never lowers a score;
    leaving one out gives up that guarantee."""
    monotone_constraints_method: Literal["basic", "intermediate", "advanced"] = "intermediate"

    @field_validator("monotone_increasing")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ATTENDANCE_FEATURES))
        if unknown:
            raise ValueError(f"unknown features in monotone_increasing: {unknown}")
        return value


class CalibrationConfig(_Section):
    method: Literal["isotonic", "none"] = "isotonic"
    """Isotonic regression of the training labels on out-of-fold predictions of the recipe
    (see :mod:`training.model`); kept only if it lowers the cross-fitted, out-of-fold expected
    calibration error. The test year never chooses."""
    folds: int = Field(3, ge=2, le=10)
    """Folds of schools for the out-of-fold predictions the calibration is fitted on."""


class ModelConfig(_Section):
    segmented: bool = True
    """Two boosters: pupils on the school's list (absence so far ≥ ``heading_below``) and
    pupils heading there (below it), each trained only on its own pupil-weeks. ``false``: one
    booster for everyone. docs/modelling.md gives the evidence
    (benchmarks/bench_early_warning.py)."""
    heading_below: float = Field(0.10, gt=0, lt=1)
    early_weeks: int = Field(6, ge=0, le=20)
    """A booster of its own, for every pupil, in school weeks 1..``early_weeks`` (0: none);
    the others are fitted on the weeks after. docs/modelling.md ("The first weeks") says why."""


class EvaluationConfig(_Section):
    report_weeks: list[int] = Field(default_factory=lambda: [2, 6, 12, 18, 24, 30])
    top_shares: list[float] = Field(default_factory=lambda: [0.05, 0.10, 0.20])
    operating_share: float = Field(0.10, gt=0, lt=1)
    """The top-k share of the fairness audit and the precision gate."""
    extra_list_share: float = Field(0.03, gt=0, lt=1)
    """The extra list: this share of each school's roll each week, among pupils not on the
    school's list (training.early_warning)."""
    lead_weeks: int = Field(4, ge=1)
    """Surfaced "early": at least this many school weeks before crossing for good."""
    caseload: int = Field(10, ge=1)
    """Pupils per school a practitioner can work with (the per-school operating point)."""
    emerging_below: float = Field(0.10, gt=0, le=1)
    """The emerging group: absence so far this year below this rate."""
    ece_bins: int = Field(10, ge=2)
    tie_break_seed: int = 17
    """Ties in a score are broken by a seeded random order, the same for every model."""

    @field_validator("report_weeks")
    @classmethod
    def _weeks(cls, value: list[int]) -> list[int]:
        if not value or any(w < 1 for w in value) or len(set(value)) != len(value):
            raise ValueError(
                "report_weeks must be distinct school weeks counted from 1, e.g. [2, 6, 12]"
            )
        return value

    @field_validator("top_shares")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < s < 1 for s in value):
            raise ValueError("top_shares must be fractions between 0 and 1, e.g. [0.05, 0.1]")
        return value

    @model_validator(mode="after")
    def _operating_share_reported(self) -> EvaluationConfig:
        if self.operating_share not in self.top_shares:
            raise ValueError(f"operating_share {self.operating_share} must be in top_shares")
        return self


class FairnessConfig(_Section):
    attributes: list[str] = Field(default_factory=lambda: list(AUDIT_ATTRIBUTES))
    """Audited attributes, some of :data:`AUDIT_ATTRIBUTES` (at least one: every model is
    audited)."""
    min_group_size: int = Field(50, ge=1)
    """Groups with fewer pupils (for recall: fewer pupils who end the year persistently
    absent) are reported but not gated (too noisy)."""
    reference: dict[str, str] = Field(
        default_factory=lambda: {"fsm": "no", "sen": "none", "sex": "F", "eal": "no"}
    )
    """Reference group per attribute; attributes not listed use their largest group."""
    recall_ratio_min: float = Field(0.8, gt=0, le=1)
    """Gate: a group's chance of being found (recall among pupils who end the year PA, within
    bands of final absence) at least this share of the reference group's."""
    absence_bands: list[float] = Field(default_factory=lambda: [0.10, 0.15, 0.20, 0.30, 0.50])
    """Lower edges of the bands of final absence within which recall is compared: a group
    whose absentees are more absent is found more easily, and that is not fairness."""
    calibration_gap_max: float = Field(0.03, gt=0, le=1)
    """Gate: within each group, |mean predicted − observed rate| over weeks 1 to
    ``calibration_weeks`` at most this, unless its 95% bootstrap interval reaches back
    within it (the difference could be chance)."""
    calibration_weeks: int = Field(6, ge=1)
    bootstrap: int = Field(200, ge=0, le=5000)
    """Pupil-level bootstrap resamples for the intervals of the recall ratios and of the
    calibration gaps (0: none; a gap is then judged on its point estimate)."""

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        unknown = [a for a in value if a not in AUDIT_ATTRIBUTES]
        if not value or unknown:
            raise ValueError(
                f"attributes must be some of {AUDIT_ATTRIBUTES}"
                + (f", not {unknown}" if unknown else " (at least one)")
            )
        return value

    @field_validator("reference")
    @classmethod
    def _references(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [a for a in value if a not in AUDIT_ATTRIBUTES]
        if unknown:
            raise ValueError(
                f"reference groups of unknown attributes {unknown}: use {AUDIT_ATTRIBUTES}"
            )
        return value

    @field_validator("absence_bands")
    @classmethod
    def _bands(cls, value: list[float]) -> list[float]:
        if not value or value != sorted(value) or value[0] < 0.1 or value[-1] > 1:
            raise ValueError(
                "absence_bands must be increasing lower edges from 0.1, e.g. [0.1, 0.2, 0.5]"
            )
        return value


class PromotionConfig(_Section):
    max_ece: float = Field(0.03, gt=0, le=1)
    """Champion gate: expected calibration error (10 bins, pooled test year) at most this."""
    max_ece_early: float = Field(0.02, gt=0, le=1)
    """Champion gate: expected calibration error of each of the first
    ``[fairness] calibration_weeks`` weeks at most this (the weeks schools act on)."""
    fairness: bool = True
    """Gate on the fairness audit (recall ratios and calibration within groups)."""


class RunConfig(_Section):
    experiment: str = "attendance-risk"
    seed: int = 20240901
    feature_set: str = DEFAULT_FEATURE_SET
    """The feature set of the model that is registered."""
    compare_feature_sets: list[str] = Field(
        default_factory=lambda: ["attendance", "attendance+context"]
    )

    @field_validator("feature_set")
    @classmethod
    def _feature_set(cls, value: str) -> str:
        if value not in FEATURE_SETS:
            raise ValueError(f"feature_set {value!r} is not one of {sorted(FEATURE_SETS)}")
        return value

    @field_validator("compare_feature_sets")
    @classmethod
    def _feature_sets(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in FEATURE_SETS]
        if unknown:
            raise ValueError(f"unknown feature sets {unknown}; known: {sorted(FEATURE_SETS)}")
        return value


class TrainingConfig(_Section):
    """A whole training run."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    fairness: FairnessConfig = FairnessConfig()
    promotion: PromotionConfig = PromotionConfig()

    @property
    def feature_sets(self) -> list[str]:
        """Feature sets trained: the registered one first, then the others compared."""
        others = [f for f in self.run.compare_feature_sets if f != self.run.feature_set]
        return [self.run.feature_set, *others]


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says where and how to fix it."""


def load_config(path: Path | None = None) -> TrainingConfig:
    """Read and validate a TOML run configuration (default: the shipped default.toml)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config file {path}: {validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError) -> str:
    """Each error of a config validation as ``[section.key] what is wrong (got value)``, an
    unknown key with the keys its section knows."""
    problems = []
    for err in exc.errors():
        where = f"[{'.'.join(str(p) for p in err['loc'])}]"
        if err["type"] == "extra_forbidden":
            known = _known_keys(err["loc"][:-1])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{where} unknown key: {hint}known keys: {', '.join(known)}")
        elif isinstance(err["input"], dict):
            problems.append(f"{where} {err['msg']}")
        else:
            problems.append(f"{where} {err['msg']} (got {err['input']!r})")
    return "; ".join(problems)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = TrainingConfig
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def config_to_toml(config: TrainingConfig) -> str:
    """The configuration as TOML (what is logged with the run; reloads to an equal config)."""
    lines: list[str] = []
    for section, model in config.model_dump(mode="json").items():
        lines.append(f"[{section}]")
        for key, value in model.items():
            if value is None:
                continue  # TOML has no null: an absent key takes the default (None)
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot write {type(value)} as TOML")
