"""The config file: every key validated, every mistake named."""

from __future__ import annotations

import pytest

from kfp_governance.config import load_config, parse_config
from kfp_governance.errors import ConfigError

MINIMAL = {"data": {"uri": "data.csv", "label": "y", "positive_label": 1}}


def test_minimal_config_gets_documented_defaults():
    config = parse_config(MINIMAL)
    assert config.data.positive_label == "1"  # labels compare as text
    assert config.split.eval_fraction == 0.2 and config.split.seed == 42
    assert config.training.estimator == "hist_gradient_boosting"
    assert config.validation.drift_thresholds.numeric == 0.1


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"training": {"estimator": "svm"}}, "training.estimator: unknown estimator 'svm'"),
        ({"data": {**MINIMAL["data"], "featurs": ["a"]}}, "data.featurs: unknown key"),
        ({"split": {"eval_fraction": 1.5}}, "split.eval_fraction"),
        ({"data": {"uri": "x.csv", "label": "y"}}, "data.positive_label: required key is missing"),
        ({"data": {**MINIMAL["data"], "features": ["y"]}}, "lists the label column 'y'"),
        ({"data": {**MINIMAL["data"], "protected_attributes": [{"name": "a"}]}},
         "data.protected_attributes.0.privileged: required key is missing"),
        ({"validation": {"drift_thresholds": {"features": {"age": 3}}}}, "drift threshold for 'age' is 3"),
    ],
)
def test_config_mistakes_name_the_key_and_value(change, expected):
    with pytest.raises(ConfigError) as err:
        parse_config({**MINIMAL, **change})
    assert expected in str(err.value)


def test_unparseable_yaml_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  uri: [unclosed\n  label: y\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "not valid YAML at line" in str(err.value)


def test_missing_and_empty_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(empty)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(scalar)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "c.yaml"
    path.write_text("data: {uri: ../d.csv, label: y, positive_label: '1'}\nvalidation: {baseline_statistics: s.pb}\n")
    config = load_config(path)
    assert config.data.uri == str((tmp_path / "d.csv").resolve())
    assert config.validation.baseline_statistics == str((folder / "s.pb").resolve())


def test_privileged_comparison_parses():
    config = parse_config({"data": {**MINIMAL["data"], "protected_attributes": [
        {"name": "age", "privileged": ">= 25"}, {"name": "sex", "privileged": "Male"}]}})
    age, sex = config.data.protected_attributes
    assert age.comparison == (">=", 25.0)
    assert sex.comparison is None


def test_example_config_equals_the_built_in_default():
    from pathlib import Path

    from kfp_governance.config import default_config

    example = load_config(Path(__file__).resolve().parents[1] / "examples" / "adult.yaml")
    assert example.model_dump() == default_config().model_dump()
