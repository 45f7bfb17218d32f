"""Which rows belong to the privileged group, the unprivileged group, or neither.

A :class:`~kfp_governance.config.ProtectedAttribute` names a column and its
privileged group: a value compared as text (``privileged: Male``), a number
compared numerically on a numeric column (``privileged: 1``), or a
comparison with a number on a numeric column (``privileged: ">=25"``).
Every other row with a value is unprivileged. Rows whose value is missing
belong to neither group: they are left out of that attribute's metrics and
counted (``missing_rows``).

>>> import pandas as pd
>>> from kfp_governance.config import ProtectedAttribute
>>> age = pd.Series([19, 25, 40, None])
>>> groups = split_groups(age, ProtectedAttribute(name="age", privileged=">=25"))
>>> groups.privileged.tolist(), groups.unprivileged.tolist(), groups.missing, groups.definition
([False, True, True, False], [True, False, False, False], 1, 'age >= 25')
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kfp_governance.config import ProtectedAttribute
from kfp_governance.errors import ConfigError

_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
              "==": operator.eq, "!=": operator.ne}
MAX_VALUES_SHOWN = 20


@dataclass(frozen=True)
class Groups:
    """Boolean row masks of one attribute on one split.

    ``privileged`` and ``unprivileged`` never overlap; rows in neither have
    a missing value (``missing`` counts them).
    """

    privileged: np.ndarray
    unprivileged: np.ndarray
    missing: int
    definition: str
    kind: str  # "categorical" or "numeric"


def is_numeric(column: pd.Series) -> bool:
    """True for int and float columns (bool columns count as categorical)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def definition(attribute: ProtectedAttribute, numeric: bool | None = None) -> str:
    """A readable definition of the privileged group, e.g. ``gender == 'Male'`` or ``age >= 25``.

    >>> definition(ProtectedAttribute(name="gender", privileged="Male"))
    "gender == 'Male'"
    """
    comparison = attribute.comparison
    if comparison:
        op, threshold = comparison
        return f"{attribute.name} {op} {threshold:g}"
    number = _number(attribute.privileged)
    if numeric and number is not None:
        return f"{attribute.name} == {number:g}"
    return f"{attribute.name} == {str(attribute.privileged)!r}"


def distinct_values(column: pd.Series) -> list[str]:
    """The column's distinct non-missing values as text, sorted (numbers in numeric order)."""
    values = pd.unique(column.dropna())
    if is_numeric(column):
        return [f"{v:g}" for v in sorted(float(v) for v in values)]
    return sorted(str(v) for v in values)


def shown(values: list[str]) -> str:
    """``values`` as a short, quoted list for an error message."""
    head = ", ".join(repr(v) for v in values[:MAX_VALUES_SHOWN])
    more = len(values) - MAX_VALUES_SHOWN
    return head + (f", ... ({more} more)" if more > 0 else "")


def split_groups(column: pd.Series, attribute: ProtectedAttribute, where: str = "protected_attributes",
                 split: str = "data") -> Groups:
    """Privileged / unprivileged masks of ``column`` for ``attribute``.

    Raises :class:`ConfigError` for a comparison (``">=25"``) on a column
    that is not numeric. Whether a group is empty is checked by the caller,
    which sees every split.
    """
    numeric = is_numeric(column)
    comparison = attribute.comparison
    if comparison and not numeric:
        raise ConfigError(
            f"{where}: privileged {attribute.privileged!r} of attribute {attribute.name!r} is a numeric "
            f"comparison, but column {attribute.name!r} of the {split} is not numeric (dtype "
            f"{column.dtype}; values: {shown(distinct_values(column))})",
            fix="give one of those values as privileged (compared as text), or convert the column to numbers",
        )
    if numeric and (comparison or _number(attribute.privileged) is not None):
        x = column.to_numpy(dtype=float, na_value=np.nan)
        valid = ~np.isnan(x)
        op, threshold = comparison or ("==", _number(attribute.privileged))
        with np.errstate(invalid="ignore"):
            privileged = _OPERATORS[op](x, threshold) & valid
    else:
        # Compare as text, once per distinct value rather than once per row; the
        # codes also mark missing values (-1), cheaper than a separate isna pass.
        codes, uniques = pd.factorize(column)
        wanted = str(attribute.privileged)
        match = np.fromiter((str(u) == wanted for u in uniques), dtype=bool, count=len(uniques))
        privileged = np.append(match, False)[codes]  # code -1 (missing) picks the appended False
        valid = codes >= 0
    missing = int(len(column) - valid.sum())
    return Groups(
        privileged=privileged,
        unprivileged=valid & ~privileged,
        missing=missing,
        definition=definition(attribute, numeric),
        kind="numeric" if numeric else "categorical",
    )
