"""The run configuration: one YAML file, validated with clear errors.

The CLI reads this file and maps it onto the typed parameters of the reference
pipelines; the executors receive the same values as plain arguments.

>>> from kfp_governance.config import GovernanceConfig
>>> cfg = GovernanceConfig.model_validate({"data": {"uri": "adult.csv", "label": "loan",
...                                                  "positive_label": ">50K"}})
>>> cfg.split.eval_fraction, cfg.training.estimator
(0.2, 'hist_gradient_boosting')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kfp_governance.errors import ConfigError
from kfp_governance.gate.policy import GatePolicy
from kfp_governance.validation_errors import problems

ESTIMATORS = ("logistic_regression", "random_forest", "hist_gradient_boosting")
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ProtectedAttribute(_Strict):
    """A protected attribute and which of its values is the privileged group.

    ``privileged`` is either a value of the column (``Male``) or, for numeric
    columns, a comparison with a number (``">=25"``).

    >>> ProtectedAttribute(name="age", privileged=">=25").comparison
    ('>=', 25.0)
    >>> ProtectedAttribute(name="gender", privileged="Male").comparison is None
    True
    """

    name: str
    privileged: str | int | float

    @field_validator("privileged")
    @classmethod
    def _integral_float_as_int(cls, value: str | int | float) -> str | int | float:
        # A pipeline parameter carries numbers as doubles (protobuf Struct): 1 arrives as 1.0.
        # Equal values either way; the int keeps the evidence as the user wrote it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @property
    def comparison(self) -> tuple[str, float] | None:
        if not isinstance(self.privileged, str):
            return None
        match = _COMPARISON.match(self.privileged)
        return (match.group(1), float(match.group(2))) if match else None


class DataConfig(_Strict):
    uri: str
    format: Literal["csv", "parquet", "auto"] = "auto"
    label: str
    positive_label: str
    features: list[str] | None = None
    na_values: list[str] = Field(default_factory=list)
    protected_attributes: list[ProtectedAttribute] = Field(default_factory=list)

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label_as_text(cls, value: Any) -> str:
        return str(value)

    @model_validator(mode="after")
    def _label_is_not_a_feature(self) -> DataConfig:
        if self.features is not None:
            if not self.features:
                raise ValueError("data.features is empty: list the feature columns or omit the key")
            if self.label in self.features:
                raise ValueError(f"data.features lists the label column {self.label!r}")
            dupes = sorted({f for f in self.features if self.features.count(f) > 1})
            if dupes:
                raise ValueError(f"data.features lists {dupes} more than once")
        names = [p.name for p in self.protected_attributes]
        if self.label in names:
            raise ValueError(f"the label {self.label!r} cannot be a protected attribute")
        if len(set(names)) != len(names):
            raise ValueError(f"data.protected_attributes names an attribute twice: {names}")
        return self

    def resolved_format(self) -> str:
        """``csv`` or ``parquet``: the configured format, or the one the URI's ending implies."""
        if self.format != "auto":
            return self.format
        name = self.uri.lower()
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        return "csv"


class SplitConfig(_Strict):
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = 42


class TrainingConfig(_Strict):
    estimator: str = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator {value!r}; choose one of {', '.join(ESTIMATORS)}")
        return value


class DriftThresholds(_Strict):
    """Thresholds for drift (against baseline statistics) and skew comparators.

    ``numeric`` is a Jensen-Shannon divergence, ``categorical`` an L-infinity
    distance; ``features`` overrides either for named features.
    """

    numeric: float = Field(0.1, gt=0.0, le=1.0)
    categorical: float = Field(0.1, gt=0.0, le=1.0)
    features: dict[str, float] = Field(default_factory=dict)

    @field_validator("features")
    @classmethod
    def _in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"drift threshold for {name!r} is {threshold}; use 0 < t <= 1")
        return value


class ValidationConfig(_Strict):
    baseline_statistics: str | None = None
    serving_statistics: str | None = None
    schema_uri: str | None = Field(None, alias="schema")
    drift_thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    runner: str = "InProcess"
    beam_options: list[str] = Field(default_factory=list)


class FairnessConfig(_Strict):
    min_group_size: int = Field(30, ge=1)
    bootstrap_samples: int = Field(2000, ge=0, le=10_000)
    seed: int = 0


class ExplainConfig(_Strict):
    """SHAP explanations: ``max_samples`` rows at most (how many, and exact or approximate, follow from the
    model's size, never from timing); ``time_limit_s`` only stops a step that runs too long, with an error."""

    time_limit_s: float = Field(600.0, gt=0)
    max_samples: int = Field(1000, ge=10)
    seed: int = 0


class ChampionConfig(_Strict):
    """The model in production to compare against, pinned by the sha256 of its model file.

    Without ``model_sha256`` the hash in the champion's own ``model_record.json``
    is checked; with it (e.g. the registered hash), a champion whose bytes differ
    is refused.
    """

    model_uri: str
    model_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class VertexSettings(_Strict):
    """Vertex AI Model Registry: project, region and the ``gs://`` folder where model files and evidence go."""

    project: str
    location: str = "us-central1"
    staging_uri: str = Field(pattern=r"^gs://[^/]+")
    serving_image: str | None = None


class RegistryConfig(_Strict):
    """Where every candidate model is registered with its evidence: MLflow (by default a SQLite file in the
    per-user folder ``$KFP_GOVERNANCE_HOME``, shared by every local run; on-prem an MLflow server,
    ``tracking_uri: http://...``) or Vertex AI Model Registry (``vertex:`` settings)."""

    backend: Literal["mlflow", "vertex"] = "mlflow"
    # Default: named after the data file and the label (``adult.csv.gz`` + ``loan`` → ``adult-loan``), so runs
    # on unrelated data never share a champion.
    model_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    tracking_uri: str | None = None
    vertex: VertexSettings | None = None

    @model_validator(mode="after")
    def _vertex_needs_settings(self) -> RegistryConfig:
        if self.backend == "vertex" and self.vertex is None:
            raise ValueError("registry.backend is 'vertex' but registry.vertex (project, location, staging_uri) "
                             "is not set")
        return self


class ServingConfig(_Strict):
    """Where a registered model is served, always by our image of the KServe model server: a local process
    (``local``), a KServe ``InferenceService`` (``kserve``) or a Vertex AI endpoint (``vertex``).

    ``allow_pickle``: serve a model that has only ``model.joblib`` (unpickling runs
    the code the file holds); models trained here also carry ``model.skops``,
    loaded without pickle, so the default is ``false``.
    """

    backend: Literal["local", "kserve", "vertex"] = "local"
    service: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    namespace: str = "default"
    mode: Literal["Serverless", "Standard"] = "Serverless"
    allow_pickle: bool = False
    project: str | None = None
    location: str | None = None
    machine_type: str = "n1-standard-2"


class ApprovalConfig(_Strict):
    """Who may deploy a blessed model: ``auto`` (the blessing is enough) or ``required`` (a recorded approval
    of that version by a person, ``kfp-governance approve``; ``approvers`` lists who may give it, empty: anyone).
    ``automatic`` and ``manual`` are accepted as the older names of ``auto`` and ``required``."""

    rule: Literal["auto", "required"] = "required"
    approvers: list[str] = Field(default_factory=list)

    @field_validator("rule", mode="before")
    @classmethod
    def _older_names(cls, value: Any) -> Any:
        return {"automatic": "auto", "manual": "required"}.get(value, value)


class DeploymentPolicy(_Strict):
    """How a blessed, approved model is rolled out and when its canary fails (and is rolled back).

    The canary takes ``canary_percent`` of the traffic and is judged on its own
    answers, addressed directly: first a **smoke** test (its labels and
    probabilities on ``smoke_rows`` eval rows equal the artifact's, to
    ``smoke_tolerance``), then an **analysis window**: ``analysis_rows`` rows
    replayed through canary and champion (at most ``analysis_seconds``),
    comparing error rate, p99 latency, the positive rate and, per protected
    attribute and group, the selection rate.

    >>> DeploymentPolicy().canary_percent, DeploymentPolicy().max_error_rate
    (10, 0.0)
    """

    canary_percent: int = Field(10, ge=1, le=100)
    smoke_rows: int = Field(50, ge=1)
    smoke_tolerance: float = Field(1e-6, ge=0.0)
    analysis_rows: int = Field(200, ge=0)
    analysis_seconds: float = Field(60.0, gt=0.0)
    max_error_rate: float = Field(0.0, ge=0.0, le=1.0)
    max_p99_latency_ms: float = Field(1000.0, gt=0.0)
    max_positive_rate_shift: float = Field(0.1, ge=0.0, le=1.0)
    max_selection_rate_shift: float = Field(0.1, ge=0.0, le=1.0)


class AlertsConfig(_Strict):
    """Where rejections, rollbacks and failures are sent: the *name* of the environment variable holding the
    webhook URL (a secret, so never the URL itself). Unset variable: no alerts."""

    webhook_env: str = Field("KFP_GOVERNANCE_ALERT_WEBHOOK", pattern=r"^[A-Z_][A-Z0-9_]*$")


class Owner(_Strict):
    name: str
    contact: str = ""


class ModelCardConfig(_Strict):
    """What people must write themselves: intended use, limitations, owners. Everything else
    in the model card comes from the run's evidence."""

    name: str = ""
    overview: str = ""
    owners: list[Owner] = Field(default_factory=list)
    intended_use: str = ""
    users: list[str] = Field(default_factory=list)
    limitations: str = ""
    tradeoffs: str = ""
    ethical_considerations: list[str] = Field(default_factory=list)
    risk_notes: list[str] = Field(default_factory=list)
    license: str = ""


class GovernanceConfig(_Strict):
    """The whole run configuration; unknown keys are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    data: DataConfig
    split: SplitConfig = Field(default_factory=SplitConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    champion: ChampionConfig | None = None
    gates: GatePolicy | None = None
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    deployment: DeploymentPolicy = Field(default_factory=DeploymentPolicy)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    model_card: ModelCardConfig = Field(default_factory=ModelCardConfig)

    @model_validator(mode="after")
    def _name_the_model(self) -> GovernanceConfig:
        if self.registry.model_name is None:
            self.registry.model_name = default_model_name(self.data.uri, self.data.label)
        return self


def default_model_name(uri: str, label: str) -> str:
    """A registry name from the data file and the label.

    >>> default_model_name("gs://bucket/loans/adult.csv.gz", "loan")
    'adult-loan'
    >>> default_model_name("s3://b/Credit Data.parquet", "Default?")
    'credit-data-default'
    """
    stem = uri.rstrip("/").rsplit("/", 1)[-1]
    for ending in (".gz", ".bz2", ".zst", ".csv", ".parquet", ".pq", ".txt"):
        stem = stem.removesuffix(ending)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{stem}-{label}".lower()).strip("-")
    return (slug or "model")[:63].rstrip("-")


def format_validation_error(err: ValidationError, source: str) -> str:
    """One readable clause per problem: the key path, what is wrong, the bad value."""
    return f"invalid config {source}: " + "; ".join(problems(err))


def parse_config(raw: Any, source: str = "<config>") -> GovernanceConfig:
    """Validate an already-parsed mapping; raise :class:`ConfigError` naming each bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config {source} must be a YAML mapping, got {type(raw).__name__}",
                          fix="start the file with keys such as 'data:'")
    try:
        return GovernanceConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source),
                          fix="correct the keys named above (see 'Configuration' in the README)") from None


def load_config(path: str | Path) -> GovernanceConfig:
    """Read and validate a YAML config file.

    Relative data and baseline paths are resolved against the file's folder,
    so a config works wherever it is run from.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist", fix="pass --config with an existing YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"config {str(path)!r} is not valid YAML{where}: {problem}",
                          fix="correct the YAML syntax there") from None
    if raw is None:
        raise ConfigError(f"config {str(path)!r} is empty", fix="add at least the 'data:' section")
    config = parse_config(raw, repr(str(path)))
    base = path.resolve().parent
    config.data.uri = _resolve(config.data.uri, base)
    if config.validation.baseline_statistics:
        config.validation.baseline_statistics = _resolve(config.validation.baseline_statistics, base)
    if config.champion:
        config.champion.model_uri = _resolve(config.champion.model_uri, base)
    if config.validation.serving_statistics:
        config.validation.serving_statistics = _resolve(config.validation.serving_statistics, base)
    if config.validation.schema_uri:
        config.validation.schema_uri = _resolve(config.validation.schema_uri, base)
    return config


def _resolve(uri: str, base: Path) -> str:
    if "://" in uri or Path(uri).is_absolute():
        return uri
    return str((base / uri).resolve())


def default_config() -> GovernanceConfig:
    """The configuration of ``kfp-governance run`` with no ``--config``: UCI Adult, bundled."""
    from kfp_governance.datasets import adult_csv_path

    return GovernanceConfig.model_validate(
        {
            "data": {
                "uri": str(adult_csv_path()),
                "format": "csv",
                "label": "loan",
                "positive_label": ">50K",
                "na_values": ["?"],
                "protected_attributes": [
                    {"name": "gender", "privileged": "Male"},
                    {"name": "ethnicity", "privileged": "White"},
                ],
            },
            "gates": {
                "min_roc_auc": 0.85,
                "min_recall": 0.5,
                "max_regression": {"roc_auc": 0.01},
                "fairness": {"max_gap": {"equal_opportunity_difference": 0.2, "average_odds_difference": 0.15}},
                "max_anomalies": 0,
                "max_drifted_features": 0,
            },
            # The local demo deploys a blessed model without waiting for a person; production configs
            # (kustomize/) keep the default, rule: required.
            "approval": {"rule": "auto"},
            "model_card": {
                "intended_use": "Demonstration of governed training on UCI Adult (income above 50K).",
                "limitations": "1994 US census data; not for decisions about real people.",
            },
        }
    )
