"""Fairness per protected attribute: data bias on the training labels, model bias on eval predictions.

Engine: **numpy**, with AIF360's definitions (unprivileged minus privileged;
disparate impact = unprivileged rate / privileged rate; favorable outcome =
the positive label; a prediction is positive when its score is >= 0.5, as in
``evaluate_model``). AIF360 (``BinaryLabelDataset``,
``BinaryLabelDatasetMetric``, ``ClassificationMetric``) and fairlearn are the
oracles in ``tests/test_fairness.py``, which checks every value against both
and against a plain numpy computation to 1e-9. AIF360 is not used here
because at 1,000,000 rows it is about 100x slower than the counts below and
its import alone takes seconds (``benchmarks/fairness_bench.py`` measures
both); numpy is always installed.

For each attribute:

- ``data``: statistical parity difference and disparate impact of the
  **train** split's labels;
- ``model``: statistical parity difference, disparate impact, equal
  opportunity difference, average odds difference and false positive rate
  difference of the model's predictions on the **eval** split;
- ``champion`` (with ``champion_dir``): the same model-bias numbers for the
  champion, re-scored on the same eval rows.

Each metric carries a 95% percentile bootstrap interval (stratified by
group, ``config.bootstrap_samples`` resamples, seeded by ``config.seed`` and
the attribute's name, so adding an attribute does not change the others'
intervals) and a status:

- ``ok``;
- ``insufficient``: a group has fewer than ``config.min_group_size`` of the
  rows the metric's rates are computed over (rows; positive labels for TPR;
  negative labels for FPR). The value is still reported, never silently
  passed: a gate should not treat it as evidence of fairness;
- ``undefined``: the value is 0/0 (disparate impact when the privileged
  group's rate is 0; TPR of a group without positive labels; FPR of a group
  without negative labels). No value is reported (``null``); the gate must
  treat it as missing evidence.

Rows with a missing protected value are in neither group: they are left out
of that attribute's metrics and counted (``missing_rows``), with a warning.

A model that predicts one class only on the eval split is not an error here:
selection rate, TPR and FPR are still defined (all 0 or all 1), the gaps are
0, and disparate impact becomes ``undefined`` when no row is predicted
positive. The result carries a warning so that a gate or a person sees that
the "fair" gaps come from a degenerate model.

Bad input raises :class:`~kfp_governance.errors.ConfigError` or
:class:`~kfp_governance.errors.DataError` naming the attribute and the value:
no protected attribute configured; an attribute column absent from a split;
a privileged value that never occurs (the values that do occur are listed);
a group with no rows in a split; a comparison (``">=25"``) on a column that
is not numeric.

JSON layout (``output_json``)::

    {"schema": "kfp-governance/fairness/v1", "engine": "numpy", "label": ..., "positive_label": ...,
     "threshold": 0.5, "model_sha256": ..., "champion_sha256": null, "train_data_sha256": ...,
     "eval_data_sha256": ..., "train_rows": ..., "eval_rows": ...,
     "min_group_size": 30, "bootstrap": {"samples": 200, "seed": 0, "confidence": 0.95, "method": ...},
     "status": "ok" | "insufficient" | "undefined",        # worst over attributes (data and model)
     "warnings": [...],
     "attributes": {
       "gender": {"privileged": "Male", "definition": "gender == 'Male'", "kind": "categorical",
                  "status": ...,
                  "data":  {"split": "train", "rows": ..., "missing_rows": 0, "status": ...,
                            "groups": {"privileged": {"size", "positives", "negatives", "base_rate"},
                                       "unprivileged": {...}},
                            "metrics": {"statistical_parity_difference": {
                                          "value": -0.19, "interval": [lo, hi], "confidence": 0.95,
                                          "group_sizes": {"privileged": n, "unprivileged": n},
                                          "denominators": {"rows": {...}}, "status": "ok", "reason": null,
                                          "bootstrap_undefined": 0},
                                        "disparate_impact": {...}}},
                  "model": {... "split": "eval", groups add "selection_rate", "tpr", "fpr"; five metrics},
                  "champion": null | {same as "model", plus "model_sha256"}}}}

>>> from kfp_governance.config import default_config
>>> from kfp_governance.executors.load_data import load_data
>>> from kfp_governance.executors.train_model import train_model
>>> from kfp_governance.executors.evaluate_fairness import evaluate_fairness
>>> import tempfile; out = tempfile.mkdtemp(); cfg = default_config()
>>> _ = load_data(cfg.data, cfg.split, f"{out}/train.parquet", f"{out}/eval.parquet")
>>> _ = train_model(f"{out}/train.parquet", f"{out}/model", label="loan", positive_label=">50K",
...                 estimator="logistic_regression")
>>> result = evaluate_fairness(f"{out}/model", f"{out}/train.parquet", f"{out}/eval.parquet",
...                            protected_attributes=cfg.data.protected_attributes, config=cfg.fairness,
...                            output_json=f"{out}/fairness.json", output_html=f"{out}/fairness.html")
>>> spd = result.attributes["gender"]["model"]["metrics"]["statistical_parity_difference"]
>>> spd["value"] < 0, spd["status"], result.status
(True, 'ok', 'ok')
>>> "gender.model.statistical_parity_difference" in result.metadata()
True
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from kfp_governance.config import FairnessConfig, ProtectedAttribute
from kfp_governance.errors import ConfigError, DataError
from kfp_governance.executors.evaluate_model import check_comparable, predict_scores
from kfp_governance.fairness.groups import Groups, distinct_values, shown, split_groups
from kfp_governance.fairness.metrics import DATA_METRICS, MODEL_METRICS, assess, group_counts, worst
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import read_record
from kfp_governance.tabular import read_split

log = logging.getLogger(__name__)

SCHEMA = "kfp-governance/fairness/v1"
THRESHOLD = 0.5
CONFIDENCE = 0.95
_SECTIONS = {"data": 1, "model": 2, "champion": 3}


@dataclass
class FairnessResult:
    """What :func:`evaluate_fairness` found; :meth:`to_json` is the JSON file's content."""

    label: str
    positive_label: str
    model_sha256: str
    train_rows: int
    eval_rows: int
    min_group_size: int
    bootstrap: dict[str, Any]
    attributes: dict[str, dict[str, Any]]
    champion_sha256: str | None = None
    train_data_sha256: str = ""
    eval_data_sha256: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    threshold: float = THRESHOLD
    engine: str = "numpy"
    schema: str = SCHEMA

    @property
    def status(self) -> str:
        """The worst status over every attribute's data and model metrics."""
        return worst(a["status"] for a in self.attributes.values())

    def to_json(self) -> dict[str, Any]:
        """The JSON document (see the module docstring for its layout)."""
        body = asdict(self)
        body.pop("seconds")  # evidence holds no timings: the same inputs give the same bytes
        ordered = {"schema": body.pop("schema"), "engine": body.pop("engine"), "status": self.status}
        return {**ordered, **body}

    def metadata(self) -> dict[str, float]:
        """Flat numbers for a KFP ``Metrics`` artifact.

        ``<attr>.<data|model|champion>.<metric>`` with ``.ci_low`` / ``.ci_high``
        beside it (undefined values are left out), the group sizes
        ``<attr>.<section>.privileged_size`` / ``.unprivileged_size`` /
        ``.missing_rows``, and ``<attr>.metrics_not_ok``: how many data and
        model metrics are insufficient or undefined.
        """
        meta: dict[str, float] = {}
        for name, attribute in self.attributes.items():
            not_ok = 0
            for section in ("data", "model", "champion"):
                part = attribute.get(section)
                if not part:
                    continue
                prefix = f"{name}.{section}"
                meta[f"{prefix}.privileged_size"] = float(part["groups"]["privileged"]["size"])
                meta[f"{prefix}.unprivileged_size"] = float(part["groups"]["unprivileged"]["size"])
                meta[f"{prefix}.missing_rows"] = float(part["missing_rows"])
                for metric, entry in part["metrics"].items():
                    if section != "champion" and entry["status"] != "ok":
                        not_ok += 1
                    if entry["value"] is None:
                        continue
                    meta[f"{prefix}.{metric}"] = entry["value"]
                    if entry["interval"]:
                        meta[f"{prefix}.{metric}.ci_low"], meta[f"{prefix}.{metric}.ci_high"] = entry["interval"]
            meta[f"{name}.metrics_not_ok"] = float(not_ok)
        return meta


def _attributes(protected_attributes) -> list[ProtectedAttribute]:
    if not protected_attributes:
        raise ConfigError("protected_attributes is empty: there is nothing to evaluate fairness on",
                          fix="list at least one {name, privileged} under data.protected_attributes")
    out = []
    for i, item in enumerate(protected_attributes):
        if isinstance(item, ProtectedAttribute):
            out.append(item)
            continue
        try:
            out.append(ProtectedAttribute.model_validate(item))
        except ValidationError as err:  # report it as a config mistake, not a traceback
            raise ConfigError(f"protected_attributes[{i}] {item!r} is not a {{name, privileged}} mapping: "
                              f"{str(err).splitlines()[-1].strip()}",
                              fix="give each protected attribute a name and a privileged value") from None
    names = [a.name for a in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"protected_attributes names {dupes} more than once", fix="list each attribute once")
    return out


def _config(config) -> FairnessConfig:
    if isinstance(config, FairnessConfig):
        return config
    try:
        return FairnessConfig.model_validate(config or {})
    except ValidationError as err:
        raise ConfigError(f"config (fairness) {config!r} is invalid: {str(err).splitlines()[-1].strip()}",
                          fix="use min_group_size >= 1, 0 <= bootstrap_samples <= 10000, an integer seed") from None


def _groups(frames: dict[str, pd.DataFrame], attribute: ProtectedAttribute, index: int) -> dict[str, Groups]:
    """Masks of ``attribute`` on every split, after checking that each split has both groups."""
    where = f"protected_attributes[{index}]"
    for split, frame in frames.items():
        if attribute.name not in frame.columns:
            raise DataError(f"{where}: protected attribute column {attribute.name!r} is not in the {split} split; "
                            f"its columns are: {', '.join(map(str, frame.columns))}",
                            fix="correct the attribute's name, or keep the column in the splits (load_data keeps "
                                "every configured protected attribute)")
    groups = {split: split_groups(frame[attribute.name], attribute, where, f"{split} split")
              for split, frame in frames.items()}
    if not any(g.privileged.any() for g in groups.values()):
        values = sorted(set().union(*(distinct_values(f[attribute.name]) for f in frames.values())))
        near = [v for v in values if v.strip().lower() == str(attribute.privileged).strip().lower()]
        hint = f" (did you mean {near[0]!r}? values are compared as exact text)" if near else ""
        if attribute.comparison:
            raise ConfigError(f"{where}: no row of {attribute.name!r} satisfies privileged "
                              f"{attribute.privileged!r} in the {' or '.join(frames)} split; its values run from "
                              f"{values[0] if values else 'none'} to {values[-1] if values else 'none'}",
                              fix="choose a threshold inside that range")
        raise ConfigError(f"{where}: privileged value {attribute.privileged!r} of attribute {attribute.name!r} "
                          f"never occurs in the {' or '.join(frames)} split{hint}; values that occur: {shown(values)}",
                          fix="set privileged to one of those values")
    for split, g in groups.items():
        rows = len(frames[split])
        for name, mask in (("privileged", g.privileged), ("unprivileged", g.unprivileged)):
            if not mask.any():
                raise DataError(
                    f"{where}: the {name} group of attribute {attribute.name!r} ({'' if name == 'privileged' else 'not '}"
                    f"{g.definition}) has no rows in the {split} split ({rows} rows, {g.missing} with "
                    f"{attribute.name!r} missing), so no gap between groups can be measured",
                    fix="use data where both groups occur in both splits (a larger eval_fraction or more data), "
                        "or choose a privileged value that does not cover every row")
    return groups


def check_protected_attributes(frame: pd.DataFrame, protected_attributes) -> None:
    """Raise the same errors :func:`evaluate_fairness` would, on one data set (used before a run starts)."""
    for index, attribute in enumerate(_attributes(protected_attributes)):
        _groups({"data": frame}, attribute, index)


def _rng(seed: int, name: str, section: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), _SECTIONS[section]])


def _section(y_true, y_pred, g: Groups, section: str, split: str, name: str, cfg: FairnessConfig) -> dict[str, Any]:
    counts = group_counts(y_true, y_pred, g.privileged, g.unprivileged)
    part = assess(counts, "data" if section == "data" else "model", min_group_size=cfg.min_group_size,
                  bootstrap_samples=cfg.bootstrap_samples, rng=_rng(cfg.seed, name, section),
                  confidence=CONFIDENCE)
    return {"split": split, "rows": len(y_true), "missing_rows": g.missing, **part}


def _one_class_warning(y_pred: np.ndarray, who: str) -> str | None:
    positive = int(y_pred.sum())
    if 0 < positive < len(y_pred):
        return None
    which = "positive" if positive else "negative"
    return (f"the {who} predicts every eval row {which} (score >= {THRESHOLD} for {positive} of {len(y_pred)} rows): "
            "the gaps are 0 because the model does not discriminate at all"
            + ("; disparate impact is undefined (0/0)" if not positive else ""))


def evaluate_fairness(model_dir: str | Path, train_path: str | Path, eval_path: str | Path, *,
                      protected_attributes: list[ProtectedAttribute], config: FairnessConfig,
                      output_json: str | Path | None, output_html: str | Path | None,
                      expected_sha256: str | None = None, champion_dir: str | Path | None = None,
                      champion_sha256: str | None = None) -> FairnessResult:
    """Measure data bias (train labels) and model bias (eval predictions) for each protected attribute.

    ``model_dir`` is a model written by ``train_model`` (loaded only if its
    sha256 matches ``expected_sha256`` or its record); ``train_path`` and
    ``eval_path`` are the splits written by ``load_data``, which keep the
    protected attribute columns. ``protected_attributes`` and ``config`` may
    also be given as plain dicts. With ``champion_dir``, the champion's
    model-bias metrics are computed on the same eval rows (loaded only if its
    sha256 matches ``champion_sha256``, the pinned one, or its record). The
    document names the model's and the splits' sha256. Writes the JSON
    document to ``output_json`` and the HTML report to ``output_html`` (either
    may be ``None``). See the module docstring for definitions, statuses and
    the JSON layout; a runnable example is there too.

    Raises :class:`ConfigError` / :class:`DataError` for bad input (see the
    module docstring).
    """
    started = time.perf_counter()
    attributes = _attributes(protected_attributes)
    cfg = _config(config)
    train = read_split(train_path, "train split")
    evaluation = read_split(eval_path, "eval split")
    y_eval, scores, record = predict_scores(model_dir, evaluation, expected_sha256)
    label, positive_label = record["label"], str(record["positive_label"])
    if label not in train.columns:
        raise DataError(f"the train split lacks the label column {label!r} the model was trained on; "
                        f"it has {list(train.columns)}", fix="pass the train split written by load_data")
    y_train = (train[label].astype(str) == positive_label).to_numpy().astype(np.int8)
    y_pred = (scores >= THRESHOLD).astype(np.int8)
    champion = None
    if champion_dir:
        check_comparable(record, read_record(champion_dir))
        _, c_scores, c_record = predict_scores(champion_dir, evaluation, champion_sha256, what="eval split (champion)")
        champion = ((c_scores >= THRESHOLD).astype(np.int8), c_record)
    predicted = time.perf_counter()

    warnings = [w for w in (_one_class_warning(y_pred, "model"),
                            champion and _one_class_warning(champion[0], "champion")) if w]
    frames = {"train": train, "eval": evaluation}
    results: dict[str, dict[str, Any]] = {}
    for index, attribute in enumerate(attributes):
        groups = _groups(frames, attribute, index)
        name = attribute.name
        entry: dict[str, Any] = {
            "privileged": attribute.privileged,
            "definition": groups["eval"].definition,
            "kind": groups["eval"].kind,
            "data": _section(y_train, y_train, groups["train"], "data", "train", name, cfg),
            "model": _section(y_eval, y_pred, groups["eval"], "model", "eval", name, cfg),
            "champion": None,
        }
        if champion:
            entry["champion"] = dict(_section(y_eval, champion[0], groups["eval"], "champion", "eval", name, cfg),
                                     model_sha256=champion[1]["model_sha256"])
        entry["status"] = worst([entry["data"]["status"], entry["model"]["status"]])
        for split, g in groups.items():
            if g.missing:
                warnings.append(f"{g.missing} row(s) of the {split} split have no value for {name!r}; they are "
                                f"left out of {name!r}'s metrics")
        results[name] = {k: entry[k] for k in ("privileged", "definition", "kind", "status", "data", "model",
                                                "champion")}
    finished = time.perf_counter()

    result = FairnessResult(
        label=label,
        positive_label=positive_label,
        model_sha256=record["model_sha256"],
        champion_sha256=champion[1]["model_sha256"] if champion else None,
        train_data_sha256=sha256_file(train_path),
        eval_data_sha256=sha256_file(eval_path),
        train_rows=len(train),
        eval_rows=len(evaluation),
        min_group_size=cfg.min_group_size,
        bootstrap={"samples": cfg.bootstrap_samples, "seed": cfg.seed, "confidence": CONFIDENCE,
                   "method": "percentile; rows resampled with replacement within each group (as multinomial "
                             "draws of the group's confusion counts)"},
        attributes=results,
        warnings=warnings,
        seconds={"load_and_predict": round(predicted - started, 4), "metrics": round(finished - predicted, 4)},
    )
    for w in warnings:
        log.warning("%s", w)
    for name, entry in results.items():
        m = entry["model"]["metrics"]
        log.info("fairness %s (%s): SPD=%s EOD=%s status=%s", name, entry["definition"],
                 m["statistical_parity_difference"]["value"], m["equal_opportunity_difference"]["value"],
                 entry["status"])
    if output_json:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(output_json).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    if output_html:
        from kfp_governance.fairness.report import write_report

        write_report(result.to_json(), output_html)
    return result


__all__ = ["DATA_METRICS", "MODEL_METRICS", "FairnessResult", "evaluate_fairness"]
