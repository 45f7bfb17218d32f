"""Is each piece of evidence well-formed and about *this* model and *these* splits?

Every evidence document names what it was computed from: the model file's
sha256 and the sha256 of the data split(s) it read. The gate knows the
model and the splits it judges (it hashes their files itself), so a
document that is malformed, or names another model or another split, fails
a check of its own and is then not used for any threshold: the thresholds
it would have fed fail as missing evidence.

>>> binding_checks("evaluation", {"model_sha256": "a" * 64, "eval_data_sha256": "b" * 64},
...                {"model_sha256": "a" * 64, "eval_data_sha256": "c" * 64})[0].reason
'the evaluation evidence is for something else: eval_data_sha256 is bbbbbbbbbbbb…, not the eval split judged \
(cccccccccccc…)'
"""

from __future__ import annotations

from typing import Any

from kfp_governance.evidence import schema_problems
from kfp_governance.gate.checks import FAIL, PASS, Check

# Which subject hashes each document must carry (the gate's own names for them).
SUBJECT_KEYS = {
    "validation": ("train_data_sha256", "eval_data_sha256"),
    "evaluation": ("model_sha256", "eval_data_sha256"),
    "fairness": ("model_sha256", "train_data_sha256", "eval_data_sha256"),
    "explanation": ("model_sha256", "eval_data_sha256"),
}
_WHAT = {"model_sha256": "the model judged", "train_data_sha256": "the train split judged",
         "eval_data_sha256": "the eval split judged"}


def schema_check(kind: str, document: dict[str, Any]) -> Check:
    """The document validates against its published schema (``kfp_governance/schemas``)."""
    problems = schema_problems(kind, document)
    if kind == "validation" and not problems and document["anomaly_count"] != len(document["anomalies"]):
        problems = [f"anomaly_count is {document['anomaly_count']} but {len(document['anomalies'])} anomalies "
                    "are listed"]
    if problems:
        return Check(f"evidence:{kind}:schema", "evidence", kind, None, None, "matches schema", FAIL,
                     f"malformed {kind} evidence (schema {kind}.v1): " + "; ".join(problems))
    return Check(f"evidence:{kind}:schema", "evidence", kind, None, None, "matches schema", PASS)


def binding_checks(kind: str, document: dict[str, Any], subject: dict[str, str]) -> list[Check]:
    """One check: every subject hash of ``document`` equals the gate's (model, train split, eval split)."""
    wrong = []
    for key in SUBJECT_KEYS[kind]:
        named, expected = document.get(key), subject.get(key)
        if not named:
            wrong.append(f"{key} is missing")
        elif named != expected:
            wrong.append(f"{key} is {named[:12]}…, not {_WHAT[key]} ({str(expected)[:12]}…)")
    name = f"evidence:{kind}:subject"
    if wrong:
        return [Check(name, "evidence", kind, None, None, "same subject", FAIL,
                      f"the {kind} evidence is for something else: " + "; ".join(wrong))]
    return [Check(name, "evidence", kind, None, None, "same subject", PASS)]


def champion_consistency(evaluation: dict[str, Any] | None, fairness: dict[str, Any] | None) -> list[Check]:
    """Evaluation and fairness compared the challenger with the same champion (or both with none)."""
    if evaluation is None or fairness is None:
        return []
    scored = (evaluation.get("champion") or {}).get("model_sha256")
    fair = fairness.get("champion_sha256")
    if scored == fair:
        return []
    return [Check("evidence:same_champion", "evidence", "champion", None, None, "equal", FAIL,
                  f"evaluation compared with champion {str(scored)[:12]}, fairness with {str(fair)[:12]}")]
