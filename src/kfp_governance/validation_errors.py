"""Turn pydantic's validation errors into one readable line per problem."""

from __future__ import annotations

from pydantic import ValidationError


def problems(err: ValidationError, prefix: str = "") -> list[str]:
    """``key.path: what is wrong (got value)`` for each problem.

    >>> from pydantic import BaseModel
    >>> class M(BaseModel):
    ...     x: int
    >>> try:
    ...     M.model_validate({"x": "a"})
    ... except ValidationError as e:
    ...     problems(e, "cfg")
    ["cfg.x: Input should be a valid integer, unable to parse string as an integer (got 'a')"]
    """
    lines = []
    for problem in err.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in problem["loc"]]
        where = ".".join(parts) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the README's config reference)"
        elif problem["type"] == "missing":
            message = "required key is missing"
        value = problem.get("input")
        quiet = problem["type"] in ("missing", "extra_forbidden") or isinstance(value, dict)
        lines.append(f"{where}: {message}" + ("" if quiet else f" (got {value!r})"))
    return lines
