"""Print benchmark results as an aligned text table."""

from __future__ import annotations


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """Print ``rows`` under ``header`` with right-aligned numbers.

    >>> print_table("t", ["a", "b"], [["x", 1.5]])
    t
    a  b
    -  ---
    x  1.5
    """
    cells = [[_fmt(c) for c in row] for row in [header] + rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(title)
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) if index and _numeric(c) else c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths).rstrip())


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("x", "").lstrip("-").isdigit()
