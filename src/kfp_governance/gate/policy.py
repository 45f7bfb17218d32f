"""The gate policy (``gates:`` in the config), validated strictly.

A policy states thresholds; the gate turns each into a check. A policy with
no threshold at all is refused: a gate that cannot fail is a defect.

>>> policy = GatePolicy.model_validate({"min_roc_auc": 0.8, "max_regression": {"roc_auc": 0.01}})
>>> policy.min_metric_thresholds()
{'roc_auc': 0.8}
>>> len(policy_hash(policy))
64
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kfp_governance.errors import ConfigError
from kfp_governance.validation_errors import problems

PERFORMANCE_METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})
GAP_METRICS = ("statistical_parity_difference", "equal_opportunity_difference", "average_odds_difference",
               "false_positive_rate_difference")
EVIDENCE = ("validation", "evaluation", "fairness", "explanation")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FairnessThresholds(_Strict):
    max_gap: dict[str, float] = Field(default_factory=dict)
    min_disparate_impact: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("max_gap")
    @classmethod
    def _known_gaps(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if name not in GAP_METRICS:
                raise ValueError(f"unknown fairness gap {name!r}; use one of {', '.join(GAP_METRICS)}")
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"max_gap.{name} is {threshold}; an absolute gap lies in [0, 1]")
        return value

    def is_empty(self) -> bool:
        return not self.max_gap and self.min_disparate_impact is None


class FairnessPolicy(FairnessThresholds):
    """Fairness thresholds for every protected attribute, with per-attribute overrides.

    ``judge`` says which number is compared with a threshold: the point
    estimate (``point``), the 95% interval's bound farthest from fair
    (``conservative``: fails when the gap *could* exceed the threshold) or
    the bound nearest to fair (``lenient``: fails only when it surely does).
    """

    attributes: dict[str, FairnessThresholds] = Field(default_factory=dict)
    judge: Literal["point", "conservative", "lenient"] = "point"
    allow_insufficient: bool = False

    def for_attribute(self, name: str) -> FairnessThresholds:
        override = self.attributes.get(name)
        if override is None:
            return FairnessThresholds(max_gap=self.max_gap, min_disparate_impact=self.min_disparate_impact)
        return FairnessThresholds(
            max_gap={**self.max_gap, **override.max_gap},
            min_disparate_impact=(override.min_disparate_impact if override.min_disparate_impact is not None
                                  else self.min_disparate_impact),
        )

    def has_thresholds(self) -> bool:
        return not self.is_empty() or any(not t.is_empty() for t in self.attributes.values())


class ExplanationPolicy(_Strict):
    """What the explanation evidence must show: exact attributions (not an approximation) and enough rows."""

    require_exact: bool = False
    min_rows: int | None = Field(None, ge=1)

    def is_empty(self) -> bool:
        return not self.require_exact and self.min_rows is None


class GatePolicy(_Strict):
    """What a model must show to be blessed. Every threshold is optional; at least one is required."""

    min_accuracy: float | None = Field(None, ge=0.0, le=1.0)
    min_roc_auc: float | None = Field(None, ge=0.0, le=1.0)
    min_precision: float | None = Field(None, ge=0.0, le=1.0)
    min_recall: float | None = Field(None, ge=0.0, le=1.0)
    min_f1: float | None = Field(None, ge=0.0, le=1.0)
    max_log_loss: float | None = Field(None, gt=0.0)
    max_regression: dict[str, float] = Field(default_factory=dict)
    fairness: FairnessPolicy = Field(default_factory=FairnessPolicy)
    max_anomalies: int = Field(0, ge=0)
    max_drifted_features: int = Field(0, ge=0)
    max_skewed_features: int = Field(0, ge=0)
    explanations: ExplanationPolicy = Field(default_factory=ExplanationPolicy)
    require: list[Literal["validation", "evaluation", "fairness", "explanation"]] = Field(
        default_factory=lambda: list(EVIDENCE))

    @field_validator("max_regression")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for name, allowed in value.items():
            if name not in PERFORMANCE_METRICS:
                raise ValueError(f"unknown metric {name!r}; use one of {', '.join(PERFORMANCE_METRICS)}")
            if not 0.0 <= allowed <= 1.0:
                raise ValueError(f"max_regression.{name} is {allowed}; an allowed regression lies in [0, 1]")
        return value

    @model_validator(mode="after")
    def _has_a_threshold(self) -> GatePolicy:
        # A key set to an empty mapping ({} for max_regression or explanations) sets no threshold either.
        explicit = {name for name in self.model_fields_set - {"require", "fairness", "explanations"}
                    if getattr(self, name) not in ({}, None)}
        if not explicit and not self.fairness.has_thresholds() and self.explanations.is_empty():
            raise ValueError("the policy sets no threshold, so the gate could never fail; set at least one, "
                             "e.g. min_roc_auc")
        return self

    def min_metric_thresholds(self) -> dict[str, float]:
        return {m: getattr(self, f"min_{m}") for m in PERFORMANCE_METRICS
                if m not in LOWER_IS_BETTER and getattr(self, f"min_{m}") is not None}


DEFAULT_POLICY = {
    "min_roc_auc": 0.75,
    "min_recall": 0.3,
    "max_regression": {"roc_auc": 0.01},
    "fairness": {"max_gap": {"equal_opportunity_difference": 0.2, "average_odds_difference": 0.2}},
}


def parse_policy(raw: object, where: str = "gates") -> GatePolicy:
    """Validate a policy mapping; ``None`` gives the documented default policy."""
    if raw is None:
        raw = DEFAULT_POLICY
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of thresholds, got {raw!r}", fix="see 'The gate' in the README")
    try:
        return GatePolicy.model_validate(raw)
    except ValidationError as err:
        raise ConfigError("; ".join(problems(err, where)),
                          fix="correct the policy (see 'The gate' in the README)") from None


def policy_hash(policy: GatePolicy) -> str:
    """sha256 of the policy's canonical JSON (defaults included): which rules judged a model."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
