"""How many rows to explain, and how, so the step fits its time budget.

SHAP's cost depends on the model as much as on the rows (exact Tree SHAP on
a deep random forest costs tens of milliseconds to seconds a row; on a
boosted model well under one), so the cost is measured, not assumed: a pilot
(:func:`run_pilot`) explains the first rows of the seeded sample in growing
batches (1, 4, 16, 64 rows: the first absorbs one-time set-up costs, the
largest gives the cost per row) while it stays within ``PILOT_FRACTION`` of
the remaining budget, and the cost per row is extrapolated to the rows the
remaining budget allows.

The pilot's rows are kept in the result, so the plan only needs to fit the
rows after them. The budget left for SHAP is ``SAFETY`` times what remains of
``time_budget_s`` after the work already done (reading, loading, imports,
pilots) and a reserve for writing the report. The modes are tried in order
of preference (trees: exact, then approximate); a preferred mode is taken
when it can explain at least ``min(quality_floor, target)`` rows, the last
mode takes whatever fits, but never fewer than ``MIN_ROWS`` rows.

>>> pilots = {"exact": Pilot("exact", rows=5, seconds=0.6, seconds_per_row=0.1),
...           "approximate": Pilot("approximate", rows=5, seconds=0.01, seconds_per_row=0.0001)}
>>> plan = choose_plan(target=1000, shap_budget_s=40.0, pilots=pilots, preference=("exact", "approximate"))
>>> plan.mode, plan.rows
('exact', 405)
>>> choose_plan(1000, 1.0, pilots, ("exact", "approximate")).mode
'approximate'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

MIN_ROWS = 10
# Exact SHAP on at least this many rows is preferred to approximate SHAP on
# more. Approximate Tree SHAP (Saabas path attributions) inflates some
# features' mean |SHAP| (on Adult's default random forest: gender +54%,
# relationship +20%), but with 1,000 rows it ranked the features exactly as
# exact SHAP on 300 rows did (Spearman 1.0), while exact SHAP on 100 rows did
# not (0.979: the sparse capital-gain needs more rows). Below 300 exact rows,
# the larger approximate sample is the better summary.
QUALITY_FLOOR = 300
SAFETY = 0.8  # share of the remaining budget planned for SHAP: room for extrapolation errors
PILOT_FRACTION = 0.2  # a pilot may spend at most this share of the remaining budget
PILOT_MAX_ROWS = 85  # batches of 1, 4, 16, 64 rows
PILOT_GROWTH = 4


@dataclass
class Pilot:
    """A pilot explained ``rows`` rows in ``mode`` in ``seconds``; one row costs ``seconds_per_row``.

    ``seconds_per_row`` comes from the largest timed batch, so one-time set-up
    costs (paid by the first, one-row batch) do not inflate it.
    """

    mode: str
    rows: int
    seconds: float
    seconds_per_row: float
    batches: list[tuple[int, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The pilot as a JSON-ready mapping."""
        return {"mode": self.mode, "rows": self.rows, "seconds": round(self.seconds, 4),
                "seconds_per_row": float(f"{self.seconds_per_row:.4g}"),
                "batches": [{"rows": n, "seconds": round(t, 4)} for n, t in self.batches]}


@dataclass
class Plan:
    """The chosen mode and number of rows, what they should cost, and why."""

    mode: str
    rows: int
    target_rows: int
    shap_budget_s: float
    seconds_per_row: float
    estimated_seconds: float  # all ``rows``: the pilot's measured seconds plus the extrapolated rest
    over_budget: bool
    reason: str


def run_pilot(explain: Callable[[int, int], T], mode: str, target: int, allowance_s: float,
              predicted_seconds_per_row: float | None = None, required: bool = False,
              max_rows: int = PILOT_MAX_ROWS) -> tuple[Pilot | None, list[T]]:
    """Explain rows ``0, 1, ...`` in batches of 1, 4, 16, ... while the pilot stays within ``allowance_s``.

    ``explain(start, stop)`` explains those sample rows and returns their
    result; the results are returned so the pilot's rows need not be explained
    again. A batch is shrunk to the rows that still fit the allowance at the
    cost measured so far, and the pilot stops when not one more row fits.
    With ``predicted_seconds_per_row`` (a prior guess, e.g. from the model's
    size) above ``allowance_s``, nothing is run and the pilot is None.

    ``required`` (the mode is the last resort, the step must use it): two
    batches run whatever they cost, because the first may be mostly one-time
    set-up (shap's permutation explainer spends 7-14 s compiling numba code
    on its first row in a process) and only the second tells the cost of a
    row. Both rows are within the ``MIN_ROWS`` the step explains anyway.

    >>> import time
    >>> pilot, parts = run_pilot(lambda a, b: time.sleep(0.001 * (b - a)) or (a, b), "default", 1000, 0.5)
    >>> pilot.rows, parts[:3]
    (85, [(0, 1), (1, 5), (5, 21)])
    """
    if not required and predicted_seconds_per_row is not None and predicted_seconds_per_row > allowance_s:
        return None, []
    limit = min(target, max_rows)
    parts: list[T] = []
    batches: list[tuple[int, float]] = []
    done, size, spent = 0, 1, 0.0
    while done < limit and size >= 1:
        tick = time.perf_counter()
        parts.append(explain(done, done + size))
        seconds = time.perf_counter() - tick
        batches.append((size, seconds))
        done, spent = done + size, spent + seconds
        rate = _rate(batches)
        fits = math.floor((allowance_s - spent) / rate) if rate > 0 else limit
        size = min(size * PILOT_GROWTH, limit - done, fits)
        if required and len(batches) == 1:
            size = max(size, 1)
    return Pilot(mode, done, spent, _rate(batches), batches), parts


def _rate(batches: list[tuple[int, float]]) -> float:
    timed = batches[1:] or batches  # the first, one-row batch pays the set-up costs
    rows, seconds = max(timed, key=lambda b: (b[0], -b[1]))
    return seconds / rows


def rows_within(shap_budget_s: float, seconds_per_row: float, target: int) -> int:
    """Rows whose extrapolated cost fits ``shap_budget_s``, at most ``target``.

    >>> rows_within(2.0, 0.06, 1000), rows_within(20.0, 0.06, 1000), rows_within(5.0, 0.0, 300)
    (33, 333, 300)
    """
    if seconds_per_row <= 0:
        return target
    return min(target, math.floor(max(shap_budget_s, 0.0) / seconds_per_row))


def choose_plan(target: int, shap_budget_s: float, pilots: dict[str, Pilot], preference: tuple[str, ...],
                skipped: dict[str, str] | None = None, quality_floor: int = QUALITY_FLOOR) -> Plan:
    """Pick the mode and the number of rows (see the module docstring).

    ``pilots`` holds the measured modes; ``skipped`` the reason each mode that
    was not measured was left out.
    """
    skipped = dict(skipped or {})
    notes = [f"{mode} not measured: {why}" for mode, why in skipped.items()]
    measured = [mode for mode in preference if mode in pilots]
    if not measured:
        raise ValueError("choose_plan needs at least one pilot")
    minimum = min(MIN_ROWS, target)
    for position, mode in enumerate(measured):
        rate = pilots[mode].seconds_per_row
        done = min(pilots[mode].rows, target)  # the pilot's rows are kept: their cost is already spent
        fit = done + rows_within(shap_budget_s, rate, target - done)
        last = position == len(measured) - 1
        floor_rows = min(quality_floor, target)
        if fit >= target:
            why = f"{mode} fits all {target} target rows ({rate:.3g} s/row, {shap_budget_s:.2f} s left for SHAP)"
        elif not last and fit >= floor_rows:
            why = (f"{mode} fits {fit} of {target} target rows ({rate:.3g} s/row, {shap_budget_s:.2f} s left for SHAP); "
                   f"preferred while it reaches {floor_rows} rows")
        elif not last:
            notes.append(f"{mode} would fit only {fit} rows at {rate:.3g} s/row (< {floor_rows})")
            continue
        else:
            why = f"{mode} fits {fit} of {target} target rows ({rate:.3g} s/row, {shap_budget_s:.2f} s left for SHAP)"
        rows = max(fit, minimum)
        estimated = pilots[mode].seconds + (rows - done) * rate
        over = (rows - done) * rate > shap_budget_s * (1 + 1e-9)
        if over:
            why += f"; the minimum of {minimum} rows is estimated at {estimated:.2f} s, over the budget"
        return Plan(mode=mode, rows=rows, target_rows=target, shap_budget_s=round(shap_budget_s, 3),
                    seconds_per_row=rate, estimated_seconds=round(estimated, 3), over_budget=over,
                    reason="; ".join(notes + [why]))
    raise AssertionError("unreachable: the last measured mode always returns")
