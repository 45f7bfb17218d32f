"""SHAP explanations for the ``explain_model`` step.

* :mod:`~kfp_governance.explain.explainers`: one interface over SHAP's tree,
  linear and permutation explainers, chosen by the estimator;
* :mod:`~kfp_governance.explain.plan`: how many rows, and for trees exact or
  approximate Tree SHAP, from the model's size and the data (no clock);
* :mod:`~kfp_governance.explain.report`: folding one-hot columns back onto
  their features, the plots and the self-contained HTML report.

Nothing here imports shap or matplotlib at module import time.
"""
