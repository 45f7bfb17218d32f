"""The default number of bootstrap resamples gives fairness intervals whose width does not depend on the seed.

``benchmarks/bootstrap_stability.py`` measured it on the default run
(hist gradient boosting): across seeds, the 95% interval width of some model
metric moved up to 17% from its mean with 200 resamples and at most 6% with
2000. This is the fast form of that measurement, on the shared logistic
regression of ``conftest.py``: ten seeds, every model metric of the default
protected attributes, tolerance 10%; 200 resamples must fail it (or the
check proves nothing).
"""

from __future__ import annotations

import inspect
import statistics

import pytest

from kfp_governance.config import FairnessConfig
from kfp_governance.executors.evaluate_fairness import evaluate_fairness

SEEDS = range(10)
TOLERANCE = 0.10  # max |width(seed) - mean width| / mean width, over the seeds


def _max_relative_deviation(case, samples: int) -> dict[str, float]:
    model, train, evaluation, attributes = case
    per_seed = []
    for seed in SEEDS:
        result = evaluate_fairness(model, train, evaluation, protected_attributes=attributes,
                                   config=FairnessConfig(bootstrap_samples=samples, seed=seed),
                                   output_json=None, output_html=None)
        per_seed.append({f"{name}.{metric}": entry["interval"][1] - entry["interval"][0]
                         for name, attribute in result.attributes.items()
                         for metric, entry in attribute["model"]["metrics"].items() if entry["interval"]})
    out = {}
    for metric in per_seed[0]:
        widths = [w[metric] for w in per_seed]
        mean = statistics.fmean(widths)
        out[metric] = max(abs(w - mean) for w in widths) / mean
    return out


@pytest.fixture(scope="module")
def case(adult_config, adult_splits, adult_model):
    train, evaluation, _ = adult_splits
    return adult_model("logistic_regression"), train, evaluation, adult_config.data.protected_attributes


def test_interval_width_is_stable_across_seeds_at_the_default(case):
    deviation = _max_relative_deviation(case, FairnessConfig().bootstrap_samples)
    assert len(deviation) == 10, deviation  # five model metrics for each of the two attributes
    unstable = {m: round(d, 3) for m, d in deviation.items() if d > TOLERANCE}
    assert not unstable, (f"with {FairnessConfig().bootstrap_samples} resamples the interval width moves more than "
                          f"{TOLERANCE:.0%} between seeds: {unstable}")


def test_the_check_fails_with_200_resamples(case):
    deviation = _max_relative_deviation(case, 200)
    assert max(deviation.values()) > TOLERANCE, deviation


def test_component_and_pipeline_defaults_follow_the_config():
    from kfp_governance.components.evaluate_fairness import evaluate_fairness as component
    from kfp_governance.pipelines.training import training

    default = FairnessConfig().bootstrap_samples
    assert component.component_spec.inputs["bootstrap_samples"].default == default
    assert inspect.signature(training.pipeline_func).parameters["fairness_bootstrap_samples"].default == default
