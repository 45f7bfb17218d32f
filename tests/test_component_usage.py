"""The "Usage in a pipeline" snippet of every public component is a valid pipeline.

Each component's docstring shows how to call it inside a pipeline. The
snippets, in pipeline order, are put into one ``@dsl.pipeline`` function and
compiled: a wrong parameter name, a missing required input or a value of the
wrong type fails the compiler. (The snippets are not *run* here; the full
pipeline runs locally with kfp.local in tests/test_cli.py.)
"""

from __future__ import annotations

import inspect
import json
import textwrap

from kfp import compiler, dsl

from kfp_governance import components

ORDER = ["load_data", "validate_data", "train_model", "resolve_champion", "evaluate_model", "evaluate_fairness",
         "explain_model", "gate", "generate_model_card", "register_model", "deploy_model"]
MARKER = "Usage in a pipeline::"


def _snippet(component) -> str:
    doc = inspect.cleandoc(component.python_func.__doc__)
    assert MARKER in doc, f"{component.name}: no '{MARKER}' block in its docstring"
    assert "Example" not in doc, f"{component.name}: says 'Example' for a snippet that is not run"
    block = doc.split(MARKER, 1)[1].split("\n\n", 2)[1]
    return textwrap.dedent(block)


def test_every_public_component_is_listed():
    public = {name for name in components.__all__ if hasattr(getattr(components, name), "component_spec")}
    assert public == set(ORDER)


def test_the_usage_snippets_compile_as_one_pipeline(tmp_path):
    body = "\n".join(_snippet(getattr(components, name)) for name in ORDER)
    source = "def usage():\n" + textwrap.indent(body, "    ")
    namespace = {"json": json, "dsl": dsl, **{name: getattr(components, name) for name in ORDER}}
    exec(compile(source, "<component docstrings>", "exec"), namespace)
    pipeline = dsl.pipeline(name="docstring-usage")(namespace["usage"])
    compiler.Compiler().compile(pipeline, str(tmp_path / "usage.yaml"))
    assert (tmp_path / "usage.yaml").stat().st_size > 0
