"""Each threshold of a policy, turned into a check with a verdict.

A check is plain data: which metric, its value, the threshold, the
comparison and the verdict (``pass``, ``fail`` or ``skipped`` with a
reason). Missing or undefined evidence fails; it never passes silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kfp_governance.gate.policy import LOWER_IS_BETTER, FairnessThresholds, GatePolicy

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass
class Check:
    name: str
    kind: str
    metric: str
    value: float | None
    threshold: float | None
    comparison: str
    verdict: str
    reason: str = ""
    attribute: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _compare(value: float, comparison: str, threshold: float) -> bool:
    """``comparison`` ends with ``>=`` (at least) or ``<=`` (at most); a prefix names what is compared."""
    if comparison.endswith(">="):
        return value >= threshold
    if comparison.endswith("<="):
        return value <= threshold
    raise ValueError(f"unknown comparison {comparison!r}")


def _threshold_check(name: str, kind: str, metric: str, value: float | None, comparison: str,
                     threshold: float, **extra: Any) -> Check:
    if value is None:
        return Check(name, kind, metric, None, threshold, comparison, FAIL, "value missing from the evidence", **extra)
    verdict = PASS if _compare(value, comparison, threshold) else FAIL
    return Check(name, kind, metric, value, threshold, comparison, verdict, **extra)


def evidence_checks(policy: GatePolicy, evidence: dict[str, Any | None], attributes: list[str]) -> list[Check]:
    """Every required piece of evidence is present; fairness covers every configured attribute."""
    checks = []
    for name in policy.require:
        present = evidence.get(name) is not None
        checks.append(Check(f"evidence:{name}", "evidence", name, None, None, "present",
                            PASS if present else FAIL,
                            "" if present else f"no usable {name} evidence (none given, malformed, or about another "
                                               "model or split)"))
    fairness = evidence.get("fairness")
    if "fairness" in policy.require and fairness is not None:
        measured = set(fairness.get("attributes") or {})
        for attribute in attributes:
            ok = attribute in measured
            checks.append(Check(f"evidence:fairness:{attribute}", "evidence", "fairness", None, None, "present",
                                PASS if ok else FAIL, "" if ok else f"no fairness result for {attribute!r}",
                                attribute=attribute))
        if not attributes:
            checks.append(Check("evidence:fairness:attributes", "evidence", "fairness", None, None, "present", FAIL,
                                "no protected attribute is configured, so fairness cannot be judged; set "
                                "data.protected_attributes or remove 'fairness' from gates.require"))
    return checks


def performance_checks(policy: GatePolicy, evaluation: dict[str, Any] | None) -> list[Check]:
    """Minimum metric values and the maximum log loss, on the eval split."""
    metrics = (evaluation or {}).get("metrics", {})
    checks = [_threshold_check(f"min_{m}", "performance", m, metrics.get(m), ">=", t)
              for m, t in policy.min_metric_thresholds().items()]
    if policy.max_log_loss is not None:
        checks.append(_threshold_check("max_log_loss", "performance", "log_loss", metrics.get("log_loss"), "<=",
                                       policy.max_log_loss))
    return checks


def regression_checks(policy: GatePolicy, evaluation: dict[str, Any] | None) -> list[Check]:
    """How much worse than the champion, both scored on the same eval rows; skipped without a champion."""
    champion = (evaluation or {}).get("champion")
    checks = []
    for metric, allowed in sorted(policy.max_regression.items()):
        name = f"max_regression:{metric}"
        if not champion:
            checks.append(Check(name, "regression", metric, None, allowed, "regression <=", SKIPPED,
                                "no champion yet: nothing to regress from (first model)"))
            continue
        delta = evaluation.get("deltas", {}).get(metric)
        regression = None if delta is None else (delta if metric in LOWER_IS_BETTER else -delta)
        check = _threshold_check(name, "regression", metric, regression, "<=", allowed)
        check.comparison = "regression <="
        check.reason = check.reason or (f"challenger {evaluation['metrics'][metric]:.4f} vs champion "
                                        f"{champion['metrics'][metric]:.4f}")
        checks.append(check)
    return checks


def _judged_gap(entry: dict[str, Any], judge: str) -> tuple[float | None, str]:
    value, interval = entry.get("value"), entry.get("interval")
    if value is None:
        return None, ""
    if judge == "point":
        return abs(value), "point estimate"
    if not interval or None in interval:
        return None, "no bootstrap interval to judge by (fairness.bootstrap_samples is 0)"
    low, high = interval
    if judge == "conservative":
        return max(abs(low), abs(high)), "95% interval bound farthest from 0"
    return (0.0 if low <= 0.0 <= high else min(abs(low), abs(high))), "95% interval bound nearest to 0"


def _judged_ratio(entry: dict[str, Any], judge: str) -> tuple[float | None, str]:
    """Disparate impact as min(DI, 1/DI): 1 is parity; bias against either group lowers it."""
    def sym(x: float) -> float:
        return min(x, 1 / x) if x > 0 else 0.0

    value, interval = entry.get("value"), entry.get("interval")
    if value is None:
        return None, ""
    if judge == "point":
        return sym(value), "point estimate, min(DI, 1/DI)"
    if not interval or None in interval:
        return None, "no bootstrap interval to judge by (fairness.bootstrap_samples is 0)"
    low, high = interval
    if judge == "conservative":
        return min(sym(low), sym(high)), "95% interval bound farthest from parity, min(DI, 1/DI)"
    return (1.0 if low <= 1.0 <= high else max(sym(low), sym(high))), "95% interval bound nearest parity"


def _fairness_check(name: str, attribute: str, metric: str, entry: dict[str, Any] | None, comparison: str,
                    threshold: float, judged: tuple[float | None, str], allow_insufficient: bool) -> Check:
    if entry is None:
        return Check(name, "fairness", metric, None, threshold, comparison, FAIL,
                     f"{metric} missing from the fairness evidence", attribute)
    status = entry.get("status", "ok")
    value, how = judged
    if status == "undefined" or value is None:
        return Check(name, "fairness", metric, None, threshold, comparison, FAIL,
                     entry.get("reason") or how or f"{metric} is undefined", attribute)
    if status == "insufficient":
        reason = f"a group is smaller than the minimum size (group sizes {entry.get('group_sizes')})"
        verdict = SKIPPED if allow_insufficient else FAIL
        return Check(name, "fairness", metric, value, threshold, comparison, verdict, reason, attribute)
    check = _threshold_check(name, "fairness", metric, value, comparison, threshold, attribute=attribute)
    check.reason = how
    return check


def fairness_checks(policy: GatePolicy, fairness: dict[str, Any] | None, attributes: list[str],
                    section: str = "model") -> list[Check]:
    """Absolute gaps and disparate impact of the model's predictions, per protected attribute."""
    checks = []
    measured = (fairness or {}).get("attributes") or {}
    for attribute in attributes:
        thresholds: FairnessThresholds = policy.fairness.for_attribute(attribute)
        metrics = ((measured.get(attribute) or {}).get(section) or {}).get("metrics") or {}
        for metric, threshold in sorted(thresholds.max_gap.items()):
            entry = metrics.get(metric)
            judged = _judged_gap(entry, policy.fairness.judge) if entry else (None, "")
            checks.append(_fairness_check(f"max_gap:{attribute}:{metric}", attribute, metric, entry, "abs <=",
                                          threshold, judged, policy.fairness.allow_insufficient))
        if thresholds.min_disparate_impact is not None:
            entry = metrics.get("disparate_impact")
            judged = _judged_ratio(entry, policy.fairness.judge) if entry else (None, "")
            checks.append(_fairness_check(f"min_disparate_impact:{attribute}", attribute, "disparate_impact", entry,
                                          "min(DI, 1/DI) >=", thresholds.min_disparate_impact, judged,
                                          policy.fairness.allow_insufficient))
    return checks


def data_checks(policy: GatePolicy, validation: dict[str, Any] | None) -> list[Check]:
    """Data anomalies (eval against the schema) and drifted features (against the baseline)."""
    if validation is None:
        return [Check("max_anomalies", "data", "anomalies", None, policy.max_anomalies, "<=", FAIL,
                      "no validation evidence")]
    # Drift and skew are reported by TFDV as anomalies too; they have checks of their own.
    schema_anomalies = [a for a in validation.get("anomalies", []) if a.get("check") not in ("drift", "skew")]
    checks = [_threshold_check("max_anomalies", "data", "anomalies", len(schema_anomalies), "<=",
                               policy.max_anomalies)]
    if schema_anomalies:
        features = sorted({f"{a.get('feature') or '(dataset)'} ({a.get('kind')})" for a in schema_anomalies})
        checks[0].reason = "anomalous: " + ", ".join(features)
    drift = validation.get("drift") or {}
    if drift.get("baseline_statistics"):
        drifted = sorted({entry["feature"] for entry in drift.get("features", []) if entry.get("exceeded")})
        check = _threshold_check("max_drifted_features", "data", "drifted_features", len(drifted), "<=",
                                 policy.max_drifted_features)
        check.reason = ("drifted: " + ", ".join(drifted)) if drifted else "against the baseline statistics"
        checks.append(check)
    else:
        checks.append(Check("max_drifted_features", "data", "drifted_features", None, policy.max_drifted_features,
                            "<=", SKIPPED, "no baseline statistics: drift not measured (first window)"))
    skew = validation.get("skew") or {}
    if skew.get("serving_statistics"):
        skewed = sorted({entry["feature"] for entry in skew.get("features", []) if entry.get("exceeded")})
        check = _threshold_check("max_skewed_features", "data", "skewed_features", len(skewed), "<=",
                                 policy.max_skewed_features)
        check.reason = ("skewed: " + ", ".join(skewed)) if skewed else "against the serving statistics"
        checks.append(check)
    return checks


def sanity_checks(evaluation: dict[str, Any] | None, fairness: dict[str, Any] | None) -> list[Check]:
    """Always on, whatever the policy: a model that predicts one class only on the eval split, or whose
    fairness metrics are undefined for a group, is never blessed (its gaps of 0 are not evidence of fairness)."""
    if evaluation is None:
        checks = [Check("sanity:predicts_both_classes", "sanity", "prediction_counts", None, None, "both > 0", FAIL,
                        "no usable evaluation evidence: cannot tell whether the model predicts both classes")]
    else:
        counts = evaluation.get("prediction_counts") or {}
        positive, negative = counts.get("positive"), counts.get("negative")
        if positive is None or negative is None:
            check = Check("sanity:predicts_both_classes", "sanity", "prediction_counts", None, None, "both > 0", FAIL,
                          "the evaluation does not count the predicted classes")
        elif positive == 0 or negative == 0:
            which = "negative" if positive == 0 else "positive"
            check = Check("sanity:predicts_both_classes", "sanity", "prediction_counts", float(min(positive, negative)),
                          None, "both > 0", FAIL,
                          f"the model predicts {which} for all {positive + negative} eval rows (a constant model)")
        else:
            check = Check("sanity:predicts_both_classes", "sanity", "prediction_counts", float(min(positive, negative)),
                          None, "both > 0", PASS, f"{positive} positive, {negative} negative predictions")
        checks = [check]
    for attribute, entry in sorted(((fairness or {}).get("attributes") or {}).items()):
        metrics = ((entry or {}).get("model") or {}).get("metrics") or {}
        undefined = sorted(name for name, m in metrics.items() if (m or {}).get("status") == "undefined")
        checks.append(Check(f"sanity:fairness_defined:{attribute}", "sanity", "fairness", None, None, "defined",
                            FAIL if undefined else PASS,
                            ("undefined for a group: " + ", ".join(undefined)) if undefined else "", attribute))
    return checks


def explanation_checks(policy: GatePolicy, explanation: dict[str, Any] | None) -> list[Check]:
    """``explanations.require_exact`` and ``explanations.min_rows``: how the attributions were computed."""
    rules = policy.explanations
    method = (explanation or {}).get("method") or {}
    sample = (explanation or {}).get("sample") or {}
    checks = []
    if rules.require_exact:
        exact = method.get("exact")
        described = f"{method.get('explainer_class', '?')} ({method.get('algorithm', '?')})"
        if explanation is None or exact is None:
            checks.append(Check("explanations:require_exact", "explanation", "exact", None, 1.0, ">=", FAIL,
                                "no explanation evidence says how the attributions were computed"))
        else:
            checks.append(Check("explanations:require_exact", "explanation", "exact", float(bool(exact)), 1.0, ">=",
                                PASS if exact else FAIL,
                                ("exact: " if exact else "approximate attributions: ") + described))
    if rules.min_rows is not None:
        rows = sample.get("rows")
        checks.append(_threshold_check("explanations:min_rows", "explanation", "rows",
                                       None if rows is None else float(rows), ">=", float(rules.min_rows)))
    return checks
