"""SHAP explainers behind one small interface, chosen by the estimator.

================  ======================================  ==============================
estimator          explainer (where it runs)               output space explained
================  ======================================  ==============================
tree ensembles     ``shap.TreeExplainer``, path-dependent  the trees' raw output: the
(random forest,    (no background: the trees' training     positive-class *probability*
hist gradient      cover is the reference), on the         for random forests (sklearn
boosting, ...)     preprocessed matrix                     averages leaf probabilities),
                                                           *log-odds* for gradient
                                                           boosting (decision_function)
linear models      ``shap.LinearExplainer`` with an        *log-odds* (decision_function)
(logistic          ``Independent`` masker over a
regression)        background sample, on the
                   preprocessed matrix
anything else      ``shap.PermutationExplainer`` on the    positive-class *probability*
                   original features (categories coded as  (``predict_proba``)
                   integers, decoded before predicting)
================  ======================================  ==============================

Each explainer explains the model in its native, additive space: values plus
the expected value equal the model output *in that space* (to rounding). The
raw tree output needs no background data and runs in the fast C++ Tree SHAP;
asking SHAP for probabilities from a boosted model would switch it to the
interventional algorithm, whose cost also grows with the background size.

Tree and linear explainers see the one-hot columns the model sees; their
values are folded back onto the original features afterwards (see
:func:`kfp_governance.explain.report.fold`). The permutation explainer works
on the original features directly, so its folding is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kfp_governance.errors import ConfigError, EvidenceError
from kfp_governance.explain import plan as planning

KINDS = ("auto", "tree", "linear", "permutation")

PERMUTATIONS = planning.PERMUTATIONS


@dataclass
class Explained:
    """SHAP values of some rows in an adapter's column space, and the expected value."""

    values: np.ndarray  # (rows, columns)
    expected_value: float


def _positive_index(model: Any) -> int:
    classes = list(getattr(model, "classes_", [0, 1]))
    if len(classes) != 2:
        raise EvidenceError(f"the model has {len(classes)} classes {classes}; explain_model explains binary classifiers",
                            fix="train a binary classifier (data.positive_label)")
    return classes.index(1) if 1 in classes else 1


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=float)


def leaf_depths(children_left: Any, children_right: Any) -> np.ndarray:
    """The depth of every leaf of one tree (root at depth 0), from its child arrays (-1: no child).

    >>> leaf_depths([1, -1, 3, -1, -1], [2, -1, 4, -1, -1]).tolist()
    [1, 2, 2]
    """
    left, right = np.asarray(children_left), np.asarray(children_right)
    depth = np.zeros(len(left), dtype=np.int64)
    parents = np.flatnonzero(left >= 0)
    for _ in range(len(left)):  # one level a pass; stops after the deepest level
        before = depth.copy()
        depth[left[parents]] = depth[parents] + 1
        depth[right[parents]] = depth[parents] + 1
        if np.array_equal(before, depth):
            break
    return depth[left < 0]


def _is_tree_model(model: Any) -> bool:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.tree import DecisionTreeClassifier

    return isinstance(model, (RandomForestClassifier, ExtraTreesClassifier, HistGradientBoostingClassifier,
                              GradientBoostingClassifier, DecisionTreeClassifier))


def _is_linear_model(model: Any) -> bool:
    from sklearn.linear_model._base import LinearClassifierMixin

    return isinstance(model, LinearClassifierMixin) and getattr(model, "coef_", None) is not None


class Adapter:
    """What the executor needs from an explainer; see the module docstring.

    ``modes`` lists the ways the explainer can run, preferred first (trees:
    ``exact`` then ``approximate``; the others: ``default``). ``columns`` are
    the names of the explained columns and ``sources`` the original feature
    each one belongs to. :meth:`plan` chooses the mode and the rows from the
    model's size alone (see :mod:`kfp_governance.explain.plan`).
    """

    kind: str
    explainer_class: str
    output_space: str  # "probability" or "log_odds"
    modes: tuple[str, ...] = ("default",)
    columns: list[str]
    sources: list[str]
    background_rows: int = 0

    def explain(self, X: pd.DataFrame, mode: str) -> Explained:
        """SHAP values of the rows of ``X`` (original feature columns)."""
        raise NotImplementedError

    def output(self, X: pd.DataFrame) -> np.ndarray:
        """The model's output for ``X`` in :attr:`output_space`: what values + expected value add up to."""
        raise NotImplementedError

    def scores(self, X: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities for ``X``."""
        raise NotImplementedError

    def plan(self, target: int) -> planning.Plan:
        """The mode and rows for ``target`` rows, from the model's size (a pure function, no clock)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Facts about the explainer for the record (e.g. the model's size)."""
        return {}


class _PipelineAdapter(Adapter):
    """Shared by tree and linear adapters: explain the matrix after ``preprocess``."""

    def __init__(self, pipeline: Any, sources: list[str]):
        self.pipeline = pipeline
        self.preprocess = pipeline.named_steps["preprocess"]
        self.model = pipeline.named_steps["model"]
        self.positive = _positive_index(self.model)
        try:
            self.columns = [str(c) for c in self.preprocess.get_feature_names_out()]
        except (AttributeError, ValueError):
            self.columns = [f"x{i}" for i in range(len(sources))]
        if len(sources) != len(self.columns):
            raise EvidenceError(
                f"the model record maps {len(sources)} transformed columns to features, but the model's "
                f"preprocessing outputs {len(self.columns)}",
                fix="use a model directory written by train_model (transformed_feature_sources)")
        self.sources = list(sources)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return _dense(self.preprocess.transform(X))

    def scores(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self.transform(X))[:, self.positive]


class TreeAdapter(_PipelineAdapter):
    """``shap.TreeExplainer`` (path-dependent, raw output) on the preprocessed matrix."""

    kind = "tree"
    explainer_class = "TreeExplainer"
    modes = ("exact", "approximate")

    def __init__(self, pipeline: Any, sources: list[str]):
        import shap

        super().__init__(pipeline, sources)
        self.explainer = shap.TreeExplainer(self.model)
        tree_output = self.explainer.model.tree_output
        if tree_output not in ("probability", "log_odds"):
            raise EvidenceError(f"TreeExplainer reports tree output {tree_output!r} for "
                                f"{type(self.model).__name__}; expected probability or log_odds",
                                fix="use explainer='permutation'")
        self.output_space = tree_output
        trees = self.explainer.model.trees
        self.n_trees = len(trees)
        self.leaves = [int(np.sum(np.asarray(t.children_left) < 0)) for t in trees]
        self.depths = [int(t.max_depth) for t in trees]
        self.size_units = int(sum(leaf * max(depth, 1) for leaf, depth in zip(self.leaves, self.depths)))
        # work units a row (see kfp_governance.explain.plan): exact sums (leaf depth + 1)**2 over all leaves,
        # approximate follows one path a tree
        self.exact_units = int(sum(int(((leaf_depths(t.children_left, t.children_right) + 1) ** 2).sum())
                                   for t in trees))
        self.approximate_units = int(sum(depth + 1 for depth in self.depths))
        ev = np.ravel(self.explainer.expected_value)
        self._expected = float(ev[self.positive] if ev.size > 1 else ev[0])

    def explain(self, X: pd.DataFrame, mode: str) -> Explained:
        values = self.explainer.shap_values(self.transform(X), approximate=(mode == "approximate"),
                                            check_additivity=False)
        if isinstance(values, list):
            values = values[self.positive]
        values = np.asarray(values, dtype=float)
        if values.ndim == 3:
            values = values[:, :, self.positive]
        return Explained(values, self._expected)

    def output(self, X: pd.DataFrame) -> np.ndarray:
        Xt = self.transform(X)
        if self.output_space == "probability":
            return self.model.predict_proba(Xt)[:, self.positive]
        return np.ravel(self.model.decision_function(Xt))

    def plan(self, target: int) -> planning.Plan:
        facts = (f"{self.n_trees:,} trees, {sum(self.leaves):,} leaves, max depth {max(self.depths)}, "
                 f"{len(self.columns)} columns")
        return planning.plan_tree(target, self.exact_units, self.approximate_units, facts)

    def describe(self) -> dict[str, Any]:
        return {"trees": self.n_trees, "leaves": int(sum(self.leaves)),
                "mean_leaves": round(float(np.mean(self.leaves)), 1),
                "max_depth": max(self.depths), "mean_depth": round(float(np.mean(self.depths)), 1),
                "leaves_x_depth": self.size_units, "columns": len(self.columns),
                "exact_units_per_row": self.exact_units, "approximate_units_per_row": self.approximate_units,
                "feature_perturbation": "tree_path_dependent"}


class LinearAdapter(_PipelineAdapter):
    """``shap.LinearExplainer`` on the preprocessed matrix, with a background sample."""

    kind = "linear"
    explainer_class = "LinearExplainer"
    output_space = "log_odds"

    def __init__(self, pipeline: Any, sources: list[str], background: pd.DataFrame):
        import shap

        super().__init__(pipeline, sources)
        Xb = self.transform(background)
        self.background_rows = len(Xb)
        masker = shap.maskers.Independent(Xb, max_samples=len(Xb))
        self.explainer = shap.LinearExplainer(self.model, masker)
        self._expected = float(np.ravel(self.explainer.expected_value)[0])

    def explain(self, X: pd.DataFrame, mode: str) -> Explained:
        values = np.asarray(self.explainer.shap_values(self.transform(X)), dtype=float)
        if values.ndim == 3:
            values = values[:, :, -1]
        return Explained(values, self._expected)

    def output(self, X: pd.DataFrame) -> np.ndarray:
        return np.ravel(self.model.decision_function(self.transform(X)))

    def plan(self, target: int) -> planning.Plan:
        return planning.plan_linear(target, len(self.columns))

    def describe(self) -> dict[str, Any]:
        return {"columns": len(self.columns), "feature_perturbation": "interventional (Independent masker)"}


class _Codec:
    """Numbers for SHAP's masker (which fails on strings): category codes, decoded before predicting."""

    def __init__(self, frame: pd.DataFrame):
        self.features = list(frame.columns)
        self.categories: dict[str, np.ndarray] = {}
        for name in self.features:
            column = frame[name]
            if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
                values = sorted({str(v) for v in column.dropna().unique()})
                self.categories[name] = np.asarray(values, dtype=object)
        self.dtypes = frame.dtypes

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.features)), dtype=float)
        for j, name in enumerate(self.features):
            column = frame[name]
            if name in self.categories:
                codes = pd.Categorical(column.astype("string"), categories=self.categories[name]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = pd.to_numeric(column, errors="coerce").astype(float).to_numpy()
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, name in enumerate(self.features):
            column = matrix[:, j]
            if name in self.categories:
                categories = self.categories[name]
                valid = ~np.isnan(column)
                decoded = np.full(len(column), None, dtype=object)
                decoded[valid] = categories[column[valid].astype(int)]
                data[name] = decoded
            else:
                data[name] = column
        return pd.DataFrame(data, columns=self.features)


class PermutationAdapter(Adapter):
    """``shap.PermutationExplainer`` on the original features, explaining the positive-class probability."""

    kind = "permutation"
    explainer_class = "PermutationExplainer"
    output_space = "probability"

    def __init__(self, model: Any, frame: pd.DataFrame, background: pd.DataFrame, seed: int):
        import shap

        self.model = model
        self.seed = int(seed)
        self.positive = _positive_index(model)
        self.codec = _Codec(frame)
        self.columns = list(frame.columns)
        self.sources = list(frame.columns)
        encoded_background = self.codec.encode(background)
        self.background_rows = len(encoded_background)
        self.max_evals = PERMUTATIONS * (2 * len(self.columns) + 1)
        masker = shap.maskers.Independent(encoded_background, max_samples=len(encoded_background))
        self.explainer = shap.PermutationExplainer(self._predict, masker, seed=seed)
        self._expected = float(np.mean(self._predict(encoded_background)))

    def _predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.codec.decode(np.asarray(matrix, dtype=float)))[:, self.positive]

    def explain(self, X: pd.DataFrame, mode: str) -> Explained:
        """Row by row, each seeded from (seed, the row's index label), so a row's values do not depend
        on which other rows are explained; numpy's global random state is restored afterwards."""
        encoded = self.codec.encode(X)
        values = np.empty_like(encoded)
        state = np.random.get_state()
        try:
            for i, label in enumerate(X.index):
                np.random.seed((self.seed * 1_000_003 + int(label)) % 2**32)
                result = self.explainer(encoded[i:i + 1], max_evals=self.max_evals, silent=True)
                values[i] = np.asarray(result.values, dtype=float)[0]
        finally:
            np.random.set_state(state)
        return Explained(values, self._expected)

    def output(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict(self.codec.encode(X))

    def scores(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X)[:, self.positive]

    def plan(self, target: int) -> planning.Plan:
        return planning.plan_permutation(target, len(self.columns), self.background_rows)

    def describe(self) -> dict[str, Any]:
        return {"features": len(self.columns), "max_evals_per_row": self.max_evals, "permutations": PERMUTATIONS,
                "feature_perturbation": "interventional (Independent masker, original features)"}


def resolve_kind(model: Any, requested: str = "auto") -> str:
    """The explainer kind for ``model``: ``requested`` unless it is ``auto``.

    ``tree`` and ``linear`` need a Pipeline with ``preprocess`` and ``model``
    steps (as ``train_model`` writes); anything else is explained by
    permutation.

    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> resolve_kind(Pipeline([("preprocess", "passthrough"), ("model", model)])), resolve_kind(model)
    ('linear', 'permutation')
    """
    if requested not in KINDS:
        raise ConfigError(f"explainer={requested!r} is not one of {', '.join(KINDS)}", fix="pass one of those")
    steps = getattr(model, "named_steps", {})
    inner = steps.get("model")
    if requested == "auto":
        if inner is None or "preprocess" not in steps:
            return "permutation"
        if _is_tree_model(inner):
            return "tree"
        if _is_linear_model(inner):
            return "linear"
        return "permutation"
    if requested in ("tree", "linear") and ("preprocess" not in steps or inner is None):
        raise ConfigError(f"explainer={requested!r} needs a Pipeline with 'preprocess' and 'model' steps, "
                          f"got {type(model).__name__}", fix="use explainer='permutation' or 'auto'")
    if requested == "tree" and not _is_tree_model(inner):
        raise ConfigError(f"explainer='tree' does not fit {type(inner).__name__}", fix="use 'auto'")
    if requested == "linear" and not _is_linear_model(inner):
        raise ConfigError(f"explainer='linear' does not fit {type(inner).__name__}", fix="use 'auto'")
    return requested


def make_adapter(kind: str, model: Any, sources: list[str], frame: pd.DataFrame, background: pd.DataFrame,
                 seed: int) -> Adapter:
    """Build the adapter of ``kind`` (see :func:`resolve_kind`) for ``model``."""
    if kind == "tree":
        return TreeAdapter(model, sources)
    if kind == "linear":
        return LinearAdapter(model, sources, background)
    return PermutationAdapter(model, frame, background, seed)
