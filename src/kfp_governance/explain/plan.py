"""How to explain, and how many rows: a pure function of the model's size, the data and the config.

Nothing here reads a clock. The plan follows from facts that are the same on
every machine: the explainer kind, the model's size (for trees: the depth of
every leaf of every tree), the number of columns, the eval rows and
``explain.max_samples``. The same model, data and config therefore always get
the same method and the same rows; a busy machine only makes the step slower
(``explain.time_limit_s`` stops it with an error, it never changes the plan).

Cost model (work units per explained row; the constants below were measured
once and are written down with their measurements):

* exact Tree SHAP (path-dependent): for every tree and every leaf at depth
  ``d``, ``(d + 1) ** 2`` units. The algorithm walks every root-to-leaf path
  and, at each leaf, unwinds each of the path's ``d + 1`` entries in ``O(d)``;
  for a balanced tree this is the textbook ``trees x leaves x depth**2``.
* approximate Tree SHAP (Saabas): one unit per node on a row's path, at most
  ``sum over trees of (max depth + 1)``.
* permutation explainer: one unit per background row the model predicts:
  ``PERMUTATIONS x (2 x features + 1)`` evaluations of ``background_rows``.
* Linear SHAP: ``columns`` units (a product per column); it always fits.

A mode fits when ``rows x units per row`` is at most its work limit. Trees:
exact on all ``target`` rows when that fits; else exact on the rows that fit,
while they are at least ``min(QUALITY_FLOOR, target)``; else approximate Tree
SHAP on ``target`` rows (the reason says so). Permutation: the rows that fit,
never fewer than ``MIN_ROWS``.

>>> plan = plan_tree(1000, exact_units_per_row=2_000_000, approximate_units_per_row=1_000,
...                  facts="10 trees, 6,925 leaves, max depth 45")
>>> plan.exact, plan.algorithm, plan.rows
(True, 'tree_path_dependent', 1000)
>>> big = plan_tree(1000, exact_units_per_row=300_000_000, approximate_units_per_row=6_000, facts="a big forest")
>>> big.exact, big.algorithm, big.rows
(False, 'tree_saabas_approximate', 1000)
>>> plan_tree(1000, 20_000_000, 6_000, facts="a forest").rows  # exact on the 500 rows that fit
500
>>> plan_permutation(1000, features=12, background_rows=100).rows
120
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIN_ROWS = 10
# Exact SHAP on at least this many rows is preferred to approximate SHAP on
# more. Approximate Tree SHAP (Saabas path attributions) inflates some
# features' mean |SHAP| (on Adult's default random forest: gender +54%,
# relationship +20%), but with 1,000 rows it ranked the features exactly as
# exact SHAP on 300 rows did (Spearman 1.0), while exact SHAP on 100 rows did
# not (0.979: the sparse capital-gain needs more rows).
QUALITY_FLOOR = 300

# Calibration (shap 0.49.1, scikit-learn 1.9.1, OMP_NUM_THREADS=1, the
# project's 2-core machine at load ~1, Adult's 65 one-hot columns), seconds a
# row of exact Tree SHAP / (sum of (leaf depth + 1)**2):
#   random forest 10 trees (min_samples_leaf=5, 6,925 leaves, depth 45): 7.4 ms/row, 3.3 ns/unit
#   random forest 100 trees (the default, 69,224 leaves, depth 45):     77 ms/row, 3.6 ns/unit
#   random forest 20 trees fully grown (88,351 leaves, depth 51):       211 ms/row, 3.8 ns/unit
#   random forest 30 trees (min_samples_leaf=20, 7,143 leaves):        6.4 ms/row, 4.5 ns/unit
#   random forest 50 trees, max_depth 8 (5,194 leaves):                 1.3 ms/row, 3.5 ns/unit
#   random forest 200 trees, max_depth 4 (3,019 leaves):               0.42 ms/row, 5.8 ns/unit
#   hist gradient boosting (88 trees, 2,728 leaves, depth 19):         0.61 ms/row, 2.4 ns/unit
#   hist gradient boosting (91 trees, 5,733 leaves, depth 31):          2.8 ms/row, 2.8 ns/unit
# A least-squares fit of all eight gives 3.3 ns/unit. The limit of 1e10 units
# is about 33 s of exact Tree SHAP on that machine.
EXACT_TREE_WORK_LIMIT = 10_000_000_000
# Saabas: 4-14 ns per unit (sum of max depth + 1 over the trees) on the same
# eight models; 4e9 units is about 30 s at 8 ns, far beyond any forest above
# (the default forest needs 4,600 units a row).
APPROXIMATE_TREE_WORK_LIMIT = 4_000_000_000
# Permutation explainer on Adult (12 features, 100 background rows, 250
# evaluations a row, so 25,000 units a row): logistic regression 0.146 s/row
# (5.8 us/unit), hist gradient boosting 0.190 s/row (7.6 us/unit), the default
# random forest 0.352 s/row (14 us/unit). 3e6 units is 18-42 s there.
PERMUTATION_WORK_LIMIT = 3_000_000
PERMUTATIONS = 10  # permutations per explained row: each costs 2 x features + 1 evaluations

ALGORITHMS = {
    ("tree", True): "tree_path_dependent",
    ("tree", False): "tree_saabas_approximate",
    ("linear", True): "linear_interventional",
    ("permutation", False): "permutation",
}


@dataclass(frozen=True)
class Plan:
    """The method and the number of rows, the estimated work, and why (no seconds anywhere)."""

    explainer: str  # tree, linear or permutation
    exact: bool
    algorithm: str
    rows: int
    target_rows: int
    units_per_row: int
    estimated_units: int
    work_limit_units: int | None  # None: the mode has no limit (Linear SHAP)
    cost_model: str
    reason: str

    @property
    def mode(self) -> str:
        """The adapter's mode: ``exact`` or ``approximate`` for trees, ``default`` otherwise."""
        if self.explainer != "tree":
            return "default"
        return "exact" if self.exact else "approximate"

    def to_json(self) -> dict[str, Any]:
        """The plan block of the explanation JSON."""
        return asdict(self)


def fitting_rows(units_per_row: int, limit: int) -> int:
    """How many rows of ``units_per_row`` fit ``limit`` work units.

    >>> fitting_rows(3, 10), fitting_rows(0, 10)
    (3, 1000000000)
    """
    return 10**9 if units_per_row <= 0 else limit // units_per_row


def _target_note(target: int) -> str:
    return f"{target:,} rows (min(explain.max_samples, eval rows))"


def plan_tree(target: int, exact_units_per_row: int, approximate_units_per_row: int, facts: str) -> Plan:
    """Exact Tree SHAP if it fits (on all rows, or on at least ``QUALITY_FLOOR``), else approximate."""
    fits = fitting_rows(exact_units_per_row, EXACT_TREE_WORK_LIMIT)
    cost = f"exact Tree SHAP costs {exact_units_per_row:,} work units a row ({facts})"
    model = "sum over trees and leaves of (leaf depth + 1)**2 per row"
    floor = min(QUALITY_FLOOR, target)
    if fits >= floor:
        rows = min(target, fits)
        if rows == target:
            why = (f"{cost}; {_target_note(target)} need {rows * exact_units_per_row:,} units, within the "
                   f"limit of {EXACT_TREE_WORK_LIMIT:,}")
        else:
            why = (f"{cost}; {_target_note(target)} would need {target * exact_units_per_row:,} units, over the "
                   f"limit of {EXACT_TREE_WORK_LIMIT:,}; exact on the {rows:,} rows that fit (at least "
                   f"{floor:,}, preferred to approximate values on more rows)")
        return Plan("tree", True, ALGORITHMS["tree", True], rows, target, exact_units_per_row,
                    rows * exact_units_per_row, EXACT_TREE_WORK_LIMIT, model, why)
    rows = min(target, max(MIN_ROWS, fitting_rows(approximate_units_per_row, APPROXIMATE_TREE_WORK_LIMIT)))
    hint = (f"explain.max_samples <= {fits:,} would give exact values" if fits >= MIN_ROWS
            else "a smaller model would give exact values")
    why = (f"{cost}; only {fits:,} rows fit the limit of {EXACT_TREE_WORK_LIMIT:,} (fewer than {floor:,}), "
           f"so approximate Tree SHAP (Saabas path attributions, not Shapley values) explains {rows:,} of "
           f"{_target_note(target)} at {approximate_units_per_row:,} units a row; {hint}")
    return Plan("tree", False, ALGORITHMS["tree", False], rows, target, approximate_units_per_row,
                rows * approximate_units_per_row, APPROXIMATE_TREE_WORK_LIMIT,
                "sum over trees of (max depth + 1) per row", why)


def plan_linear(target: int, columns: int) -> Plan:
    """Linear SHAP is exact and costs one product per column: all ``target`` rows.

    >>> plan = plan_linear(500, columns=65)
    >>> plan.exact, plan.rows, plan.estimated_units
    (True, 500, 32500)
    """
    why = (f"Linear SHAP is exact for a linear model and costs {columns:,} units a row (one per column): "
           f"all {_target_note(target)}")
    return Plan("linear", True, ALGORITHMS["linear", True], target, target, columns, target * columns, None,
                "columns per row", why)


def plan_permutation(target: int, features: int, background_rows: int) -> Plan:
    """The rows whose sampled permutations fit ``PERMUTATION_WORK_LIMIT``, at least ``MIN_ROWS``."""
    evaluations = PERMUTATIONS * (2 * features + 1)
    per_row = evaluations * background_rows
    fits = fitting_rows(per_row, PERMUTATION_WORK_LIMIT)
    rows = min(target, max(MIN_ROWS, fits))
    why = (f"the permutation explainer estimates Shapley values from {PERMUTATIONS} sampled permutations "
           f"({evaluations:,} evaluations of {background_rows:,} background rows for {features} features: "
           f"{per_row:,} units a row); {min(fits, target):,} of {_target_note(target)} fit the limit of "
           f"{PERMUTATION_WORK_LIMIT:,}")
    if rows > fits:
        why += f"; the minimum of {MIN_ROWS} rows is explained anyway"
    return Plan("permutation", False, ALGORITHMS["permutation", False], rows, target, per_row, rows * per_row,
                PERMUTATION_WORK_LIMIT, "permutations x (2 x features + 1) x background rows per row", why)
