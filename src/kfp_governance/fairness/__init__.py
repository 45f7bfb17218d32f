"""Group fairness with AIF360's definitions, computed with numpy.

- :mod:`~kfp_governance.fairness.groups`: which rows are privileged,
  unprivileged, or missing the attribute;
- :mod:`~kfp_governance.fairness.metrics`: per-group counts, rates, the gaps
  (unprivileged minus privileged; disparate impact as unprivileged over
  privileged) and their bootstrap intervals;
- :mod:`~kfp_governance.fairness.report`: the self-contained HTML report.

The executor that uses them is :mod:`kfp_governance.executors.evaluate_fairness`.
"""
