"""The model card answers every auditor question with the values of the evidence it was built from.

The evidence is real: the bundled UCI Adult split, a trained model, its
evaluation, fairness, explanation and gate documents. Keys the executors do
not write yet are added to a document explicitly, with values computed here
from the files (never copied from the card).
"""

from __future__ import annotations

import html as html_lib
import inspect
import json
import re
import shutil
from pathlib import Path

import pytest

from kfp_governance.hashing import sha256_file

ONE_CLASS = "predicts one class only"


def _write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def _section(page: str, name: str) -> str:
    """The HTML of ``<section id="name">`` (the card's sections are tagged for this)."""
    match = re.search(rf'<section id="{name}">(.*?)</section>', page, flags=re.S)
    assert match, f"the card has no {name!r} section"
    return match.group(1)


def _text(cell: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip()


def _rows(section: str) -> list[list[str]]:
    """Every table row of a section as its cells' text."""
    return [[_text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)]


def _row(section: str, first: str) -> list[str]:
    found = [r for r in _rows(section) if r and r[0] == first]
    assert found, f"no row {first!r} in {[r[0] for r in _rows(section) if r]}"
    return found[0]


def _gate(folder: Path, model_sha: str, train: Path, evaluation_split: Path, documents: dict[str, Path], policy):
    """Run the real gate with whichever keyword arguments its signature has today."""
    from kfp_governance.executors.gate import gate

    accepted = inspect.signature(gate).parameters
    kwargs = {"model_sha256": model_sha, "protected_attributes": ["gender", "ethnicity"],
              "train_data_sha256": sha256_file(train), "eval_data_sha256": sha256_file(evaluation_split),
              **{f"{name}_json": str(path) for name, path in documents.items()},
              "output_json": str(folder / "blessing.json")}
    gate(policy, **{k: v for k, v in kwargs.items() if k in accepted})
    return folder / "blessing.json"


def _predicted(model_dir: Path, evaluation_split: Path) -> dict[str, int]:
    """Predicted classes counted here, from the model file and the eval split (not from the evaluation)."""
    import joblib
    import pandas as pd

    record = json.loads((model_dir / "model_record.json").read_text())
    frame = pd.read_parquet(evaluation_split)
    positive = int((joblib.load(model_dir / "model.joblib").predict_proba(frame[record["features"]])[:, 1] >= 0.5).sum())
    return {"positive": positive, "negative": len(frame) - positive}


def _validation_document(folder: Path, train: Path, evaluation_split: Path) -> dict:
    """A validation document in the v1 layout, over real statistics and schema files."""
    import pandas as pd

    frame = pd.read_parquet(train)
    stats = {}
    for split, path in (("train", train), ("eval", evaluation_split)):
        stats_path = folder / f"{split}_stats.pb"
        stats_path.write_bytes(b"statistics of " + path.read_bytes()[:4096])
        stats[split] = {"path": str(stats_path), "sha256": sha256_file(stats_path)}
    schema_path = folder / "schema.pbtxt"
    features = []
    for name in frame.columns:
        values = frame[name].dropna()
        if pd.api.types.is_numeric_dtype(values):
            features.append({"name": name, "type": "FLOAT" if values.dtype.kind == "f" else "INT",
                             "presence": "required" if len(values) == len(frame) else "optional"})
        else:
            domain = sorted(values.astype(str).unique())
            features.append({"name": name, "type": "BYTES", "presence": "required" if len(values) == len(frame)
                             else "optional", "domain": domain[:20], "domain_size": len(domain)})
    schema_path.write_text("".join(f'feature {{ name: "{f["name"]}" }}\n' for f in features))
    return {"document": "kfp-governance/validation/v1", "format_version": 2,
            "train_data_sha256": sha256_file(train), "eval_data_sha256": sha256_file(evaluation_split),
            "rows": {"train": len(frame), "eval": len(pd.read_parquet(evaluation_split))}, "statistics": stats,
            "data_schema": {"source": "inferred", "path": str(schema_path), "sha256": sha256_file(schema_path),
                            "features": features},
            "anomaly_count": 0, "anomalies": [], "drift": {"baseline_statistics": None, "features": [], "exceeded": []},
            "skew": {"serving_statistics": None, "features": [], "exceeded": []}, "unseen_values": []}


def _evidence(folder: Path, model_dir: Path, splits, config, *, explain: bool = True) -> dict:
    """Evaluation, fairness, explanation, validation and blessing documents for ``model_dir``."""
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness
    from kfp_governance.executors.evaluate_model import evaluate_model

    train, evaluation_split, loaded = splits
    folder.mkdir(parents=True, exist_ok=True)
    record = json.loads((model_dir / "model_record.json").read_text())
    eval_sha, train_sha = sha256_file(evaluation_split), sha256_file(train)
    paths = {}

    evaluate_model(model_dir, evaluation_split, output_json=folder / "evaluation.json")
    document = json.loads((folder / "evaluation.json").read_text())
    document.setdefault("schema", "kfp-governance/evaluation/v1")
    document["eval_data_sha256"] = document.get("eval_data_sha256") or eval_sha
    document["prediction_counts"] = document.get("prediction_counts") or _predicted(model_dir, evaluation_split)
    paths["evaluation"] = _write(folder / "evaluation.json", document)

    evaluate_fairness(model_dir, train, evaluation_split, protected_attributes=config.data.protected_attributes,
                      config=config.fairness.model_copy(update={"bootstrap_samples": 50}),
                      output_json=folder / "fairness.json", output_html=folder / "fairness.html")
    document = json.loads((folder / "fairness.json").read_text())
    document["eval_data_sha256"] = document.get("eval_data_sha256") or eval_sha
    document["train_data_sha256"] = document.get("train_data_sha256") or train_sha
    paths["fairness"] = _write(folder / "fairness.json", document)

    if explain:
        from kfp_governance.executors.explain_model import explain_model

        explain_model(model_dir, evaluation_split, config={"max_samples": 40},
                      output_json=folder / "explanation.json", output_html=folder / "explanation.html")
        document = json.loads((folder / "explanation.json").read_text())
        document.setdefault("schema", "kfp-governance/explanation/v1")
        document["eval_data_sha256"] = document.get("eval_data_sha256") or eval_sha
        if "method" not in document:  # older layout: write the v1 block from the document's own fields
            document["method"] = {"explainer": document["explainer"], "explainer_class": document["explainer_class"],
                                  "exact": True, "algorithm": "linear, independent features",
                                  "output_space": document["output_space"],
                                  "reason": "logistic regression is linear in its log-odds"}
        paths["explanation"] = _write(folder / "explanation.json", document)

    paths["validation"] = _write(folder / "validation.json", _validation_document(folder, train, evaluation_split))
    paths["blessing"] = _gate(folder, record["model_sha256"], train, evaluation_split, paths,
                              config.gates.model_dump())
    return paths


def _card(model_dir: Path, paths: dict, loaded, config, out: Path, **extra) -> tuple[dict, str, str]:
    from kfp_governance.executors.model_card import generate_model_card

    generate_model_card(model_dir, card_config=config.model_card, data=loaded.metadata(),
                        **{f"{name}_json": path for name, path in paths.items()},
                        output_json=out.with_suffix(".json"), output_html=out.with_suffix(".html"), **extra)
    text = out.with_suffix(".json").read_text(encoding="utf-8")
    return json.loads(text), text, out.with_suffix(".html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory, adult_splits, adult_model, adult_config):
    """A logistic regression with a requested ``C``, all its evidence, and its card (JSON dict, JSON text, HTML)."""
    folder = tmp_path_factory.mktemp("card-evidence")
    model_dir = folder / "model"
    shutil.copytree(adult_model("logistic_regression", C=0.5), model_dir)
    paths = _evidence(folder / "evidence", model_dir, adult_splits, adult_config)
    card, text, page = _card(model_dir, paths, adult_splits[2], adult_config, folder / "card")
    return {"model": model_dir, "paths": paths, "card": card, "text": text, "html": page, "folder": folder,
            "docs": {name: json.loads(Path(p).read_text()) for name, p in paths.items()}}


@pytest.fixture(scope="module")
def one_class(tmp_path_factory, adult_splits, adult_model, adult_config):
    """A model regularised until it predicts 'not >50K' for every row, with evaluation and fairness evidence."""
    folder = tmp_path_factory.mktemp("one-class")
    model_dir = folder / "model"
    shutil.copytree(adult_model("logistic_regression", C=1e-9), model_dir)
    paths = _evidence(folder / "evidence", model_dir, adult_splits, adult_config, explain=False)
    assert _predicted(model_dir, adult_splits[1])["positive"] == 0, "the fixture model should predict one class"
    return model_dir, paths


def test_data_source_splits_and_statistics_are_shown_with_their_hashes(run, adult_splits):
    train, evaluation_split, loaded = adult_splits
    data = run["card"]["model_parameters"]["data"]
    stats = run["docs"]["validation"]["statistics"]
    assert data["train"]["uri"] == loaded.source_uri and data["train"]["sha256"] == loaded.source_sha256
    assert data["train"]["split_sha256"] == sha256_file(train)
    assert data["eval"]["split_sha256"] == sha256_file(evaluation_split)
    for split in ("train", "eval"):
        assert data["statistics"][split]["sha256"] == sha256_file(stats[split]["path"])
        assert data["statistics"][split]["path"] == stats[split]["path"]
    section = _section(run["html"], "data")
    assert loaded.source_uri in _row(section, "source")[1] and _row(section, "source sha256")[1] == loaded.source_sha256
    assert _row(section, "train split sha256")[1] == sha256_file(train)
    assert _row(section, "eval split sha256")[1] == sha256_file(evaluation_split)
    for split in ("train", "eval"):
        cell = _row(section, f"{split} statistics")[1]
        assert stats[split]["path"] in cell and sha256_file(stats[split]["path"]) in cell


def test_the_data_schema_is_a_table_of_features_types_presence_and_domains(run):
    schema = run["docs"]["validation"]["data_schema"]
    shown = run["card"]["model_parameters"]["data"]["schema"]
    assert shown["sha256"] == sha256_file(schema["path"]) and shown["path"] == schema["path"]
    assert [f["name"] for f in shown["features"]] == [f["name"] for f in schema["features"]]
    section = _section(run["html"], "data")
    assert sha256_file(schema["path"]) in _row(section, "schema")[1]
    for feature in schema["features"]:
        row = _row(section, feature["name"])
        assert row[1:3] == [feature["type"], feature["presence"]], row
        if feature.get("domain"):
            assert row[3].startswith(", ".join(feature["domain"][:3]))
            if feature["domain_size"] > 8:
                assert f"({feature['domain_size']} values)" in row[3]


def test_training_shows_every_effective_parameter_and_marks_the_requested_ones(run):
    import joblib

    estimator = joblib.load(run["model"] / "model.joblib").named_steps["model"]
    effective = estimator.get_params()
    card = run["card"]["model_parameters"]
    assert {p["name"] for p in card["parameters"]} == set(effective)
    for name in ("C", "max_iter", "solver", "random_state", "tol"):
        assert card["params"][name] == effective[name]
    assert [p["name"] for p in card["parameters"] if p["requested"]] == ["C"]
    section = _section(run["html"], "training")
    assert _row(section, "C") == ["C", "0.5", "requested"]
    assert _row(section, "max_iter") == ["max_iter", repr(effective["max_iter"]), ""]
    assert _row(section, "solver")[1] == repr(effective["solver"])
    assert f"All {len(effective)} effective parameters" in _text(section)


@pytest.mark.parametrize("image", [
    {"reference": "ghcr.io/acme/kfp-governance-training:1.2@sha256:" + "ab" * 32, "digest": "sha256:" + "ab" * 32},
    "ghcr.io/acme/kfp-governance-training:1.2@sha256:" + "ab" * 32,
])
def test_code_and_image_come_from_the_model_record(run, adult_splits, adult_config, tmp_path, image):
    model_dir = tmp_path / "model"
    shutil.copytree(run["model"], model_dir)
    record = json.loads((model_dir / "model_record.json").read_text())
    record["code"] = {"package_version": "9.8.7", "git_commit": "c0ffee" * 6 + "abcd", "git_dirty": True,
                      "commit_source": "build-stamp", "image": image, "python_version": "3.11.9"}
    _write(model_dir / "model_record.json", record)
    card, _, page = _card(model_dir, {}, adult_splits[2], adult_config, tmp_path / "card")
    lineage = card["lineage"]
    assert lineage["git_commit"] == record["code"]["git_commit"] and lineage["git_dirty"] is True
    assert lineage["image"] == {"reference": "ghcr.io/acme/kfp-governance-training:1.2@sha256:" + "ab" * 32,
                                "digest": "sha256:" + "ab" * 32}
    section = _section(page, "code")
    for label, value in (("package version", "9.8.7"), ("git commit", record["code"]["git_commit"]),
                         ("uncommitted changes", "yes"), ("commit source", "build-stamp"),
                         ("image", lineage["image"]["reference"]), ("image digest", "sha256:" + "ab" * 32)):
        assert _row(section, label)[1] == value, label


def test_code_of_todays_records_is_shown_too(run):
    trained = json.loads((run["model"] / "model_record.json").read_text())["code"]
    section = _section(run["html"], "code")
    assert _row(section, "package version")[1] == trained["package_version"]
    assert run["card"]["lineage"]["package_version"] == trained["package_version"]
    if trained.get("git_commit"):
        assert _row(section, "git commit")[1] == trained["git_commit"]


def test_metrics_and_predicted_classes_are_the_evaluations(run, adult_splits):
    evaluation = run["docs"]["evaluation"]
    qa = run["card"]["quantitative_analysis"]
    assert {m["type"]: m["value"] for m in qa["performance_metrics"]} == evaluation["metrics"]
    assert qa["prediction_counts"] == _predicted(run["model"], adult_splits[1])
    section = _section(run["html"], "performance")
    for name, value in evaluation["metrics"].items():
        assert _row(section, name)[1] == f"{value:.4f}"
    counts = evaluation["prediction_counts"]
    assert f"predicted positive: {counts['positive']}" in _text(section)
    assert evaluation["model_sha256"] in section and evaluation["eval_data_sha256"] in section


def test_fairness_is_shown_per_group_with_intervals(run):
    fairness = run["docs"]["fairness"]
    attributes = {a["name"]: a for a in run["card"]["fairness_analysis"]["attributes"]}
    section = _section(run["html"], "fairness")
    assert set(attributes) == set(fairness["attributes"]) == {"gender", "ethnicity"}
    for name, entry in fairness["attributes"].items():
        assert name in section
        for metric, m in entry["model"]["metrics"].items():
            assert attributes[name]["model"]["metrics"][metric]["interval"] == m["interval"]
            lo, hi = m["interval"]
            assert f"[{lo:.4f}, {hi:.4f}]" in section, (name, metric)
        for group, g in entry["model"]["groups"].items():
            row = next(r for r in _rows(section) if r[:2] == [group, str(g["size"])])
            assert row[3] == f"{g['selection_rate']:.4f}"


def test_the_explanation_names_its_method_and_rows(run):
    explanation = run["docs"]["explanation"]
    method = explanation["method"]
    shown = run["card"]["explainability"]
    assert shown["method"] == {k: method.get(k) for k in shown["method"]}
    assert shown["sample"]["rows"] == explanation["sample"]["rows"]
    section = _section(run["html"], "explanation")
    assert method["explainer"] in _row(section, "method")[1]
    assert _row(section, "exact")[1] == ("exact" if method["exact"] else "approximate")
    assert _row(section, "algorithm")[1] == method["algorithm"] and _row(section, "reason")[1] == method["reason"]
    assert _row(section, "rows")[1].startswith(f"{explanation['sample']['rows']} explained of")
    assert explanation["feature_importance"][0]["feature"] == _rows(section)[-len(shown["top_features"])][0]


def test_an_explanation_in_the_older_layout_still_says_approximate(run, adult_splits, adult_config, tmp_path):
    document = dict(run["docs"]["explanation"], explainer="tree", approximate=True)
    del document["method"]
    paths = {"explanation": _write(tmp_path / "explanation.json", document)}
    card, _, page = _card(run["model"], paths, adult_splits[2], adult_config, tmp_path / "card")
    assert card["explainability"]["method"]["exact"] is False
    section = _section(page, "explanation")
    assert _row(section, "exact")[1] == "approximate" and _row(section, "algorithm")[1] == "not recorded"


def test_gate_checks_and_verdict_are_the_blessings(run):
    blessing = run["docs"]["blessing"]
    governance = run["card"]["governance"]
    assert governance["decision"] == blessing["decision"] and governance["checks"] == blessing["checks"]
    section = _section(run["html"], "gate")
    assert blessing["decision"] in section
    for check in blessing["checks"]:
        row = next(r for r in _rows(section) if len(r) > 1 and r[1].split(" (")[0] == check["name"])
        assert row[0] == check["verdict"], check["name"]
    for name, entry in blessing["evidence"].items():
        if entry.get("present"):
            assert entry["sha256"] in _row(section, name)[1]


def test_without_registration_the_card_says_no_approval_and_never_deployed(run):
    governance = run["card"]["governance"]
    assert governance["approval"] is None and governance["deployments"] == []
    assert "no approval recorded" in _text(_section(run["html"], "approval"))
    assert "Never deployed" in _text(_section(run["html"], "deployments"))


def test_an_approval_and_deployments_are_shown_when_given(run, adult_splits, adult_config, tmp_path):
    approval = {"decision": "approved", "approver": "risk-officer@example.org", "at": "2024-05-02T10:00:00+00:00"}
    deployments = [{"endpoint": "loan-scoring", "environment": "staging", "at": "2024-05-03T09:00:00+00:00",
                    "replaced": None},
                   {"endpoint": "loan-scoring", "environment": "production", "at": "2024-05-06T09:00:00+00:00",
                    "replaced": "ab" * 32}]
    card, _, page = _card(run["model"], run["paths"], adult_splits[2], adult_config, tmp_path / "card",
                          approval=approval, deployments=deployments)
    assert card["governance"]["approval"] == approval and card["governance"]["deployments"] == deployments
    assert _row(_section(page, "approval"), "approver")[1] == "risk-officer@example.org"
    rows = _rows(_section(page, "deployments"))
    assert rows[0] == ["endpoint", "environment", "at", "replaced"]
    assert rows[2] == ["loan-scoring", "production", "2024-05-06T09:00:00+00:00", "ab" * 32]


def test_a_model_that_predicts_one_class_is_flagged_at_the_top(one_class, adult_splits, adult_config, tmp_path):
    model_dir, paths = one_class
    card, _, page = _card(model_dir, paths, adult_splits[2], adult_config, tmp_path / "card")
    assert any(w["kind"] == "one_class" for w in card["warnings"])
    warnings = _text(_section(page, "warnings"))
    assert ONE_CLASS in warnings
    assert page.index('<section id="warnings">') < page.index("<h2>")  # before every other section
    fairness_warnings = json.loads(Path(paths["fairness"]).read_text()).get("warnings") or []
    for text in fairness_warnings:
        assert re.sub(r"\s+", " ", text) in warnings


def test_one_class_is_found_from_the_confusion_matrix_alone(one_class, adult_splits, adult_config, tmp_path):
    model_dir, paths = one_class
    document = json.loads(Path(paths["evaluation"]).read_text())
    document.pop("prediction_counts")
    card, _, page = _card(model_dir, {"evaluation": _write(tmp_path / "evaluation.json", document)}, adult_splits[2],
                          adult_config, tmp_path / "card")
    assert card["quantitative_analysis"]["prediction_counts"]["positive"] == 0
    assert ONE_CLASS in _section(page, "warnings")


def test_failed_sanity_checks_and_mismatched_evidence_are_warnings(run, adult_splits, adult_config, tmp_path):
    blessing = dict(run["docs"]["blessing"])
    blessing["checks"] = [*blessing["checks"], {
        "name": "sanity:predicts_both_classes", "kind": "sanity", "metric": "predicted_classes", "value": 1.0,
        "threshold": 2.0, "comparison": ">=", "verdict": "fail", "reason": "every eval row is predicted negative",
        "attribute": None}]
    evaluation = dict(run["docs"]["evaluation"], model_sha256="ef" * 32)
    paths = {**run["paths"], "blessing": _write(tmp_path / "blessing.json", blessing),
             "evaluation": _write(tmp_path / "evaluation.json", evaluation)}
    card, _, page = _card(run["model"], paths, adult_splits[2], adult_config, tmp_path / "card")
    kinds = [w["kind"] for w in card["warnings"]]
    assert "sanity_check" in kinds and "mismatch" in kinds
    warnings = _text(_section(page, "warnings"))
    assert "sanity:predicts_both_classes failed: every eval row is predicted negative" in warnings
    assert "efefefefefef" in warnings  # the evaluated model is not this one
    assert "the gate judged a evaluation document" in warnings  # the card shows another file than the gate saw


def test_the_same_evidence_gives_byte_identical_cards(run, adult_splits, adult_config, tmp_path):
    _, text, page = _card(run["model"], run["paths"], adult_splits[2], adult_config, tmp_path / "again")
    assert text == run["text"] and page == run["html"]


def test_the_cards_date_is_the_gates_decision_not_the_clock(run, adult_splits, adult_config, tmp_path):
    blessing = dict(run["docs"]["blessing"], decided_at="2001-02-03T04:05:06+00:00")
    paths = {**run["paths"], "blessing": _write(tmp_path / "blessing.json", blessing)}
    card, _, page = _card(run["model"], paths, adult_splits[2], adult_config, tmp_path / "card")
    assert card["model_details"]["version"]["date"] == "2001-02-03"
    assert "2001-02-03T04:05:06+00:00" in page
    alone, _, _ = _card(run["model"], {}, adult_splits[2], adult_config, tmp_path / "alone")
    assert alone["model_details"]["version"]["date"] is None


def test_every_card_validates_against_the_published_schema(run, one_class, adult_splits, adult_config, tmp_path):
    from jsonschema import Draft202012Validator

    from kfp_governance.executors.model_card import JSON_SCHEMA_PATH

    schema = json.loads(JSON_SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert schema["$id"] == run["card"]["schema"]
    bare, _, _ = _card(run["model"], {}, adult_splits[2], adult_config, tmp_path / "bare")
    degenerate, _, _ = _card(one_class[0], one_class[1], adult_splits[2], adult_config, tmp_path / "one")
    for card in (run["card"], bare, degenerate):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(card)]
        assert not errors, errors[:5]


def test_without_evidence_every_section_is_there_and_says_not_recorded(run, adult_splits, adult_config, tmp_path):
    _, _, page = _card(run["model"], {}, adult_splits[2], adult_config, tmp_path / "bare")
    for name in ("warnings", "gate", "approval", "deployments", "performance", "fairness", "explanation", "data",
                 "training", "code"):
        _section(page, name)
    data = _section(page, "data")
    assert _row(data, "train statistics")[1] == "not recorded" and _row(data, "schema")[1] == "not recorded"
    assert "No gate decision" in _section(page, "gate")


def test_the_html_is_self_contained(run):
    page = run["html"].lower()
    assert "http" not in page and "<script" not in page and "<link" not in page and "url(" not in page
    assert "src=" not in page
