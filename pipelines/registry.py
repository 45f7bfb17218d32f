"""The reference pipelines by name, imported only when asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kfp_governance.errors import ConfigError

PIPELINES: dict[str, tuple[str, str, str]] = {
    # name: (module, pipeline function, arguments function)
    "training": ("kfp_governance.pipelines.training", "training", "training_arguments"),
}


def get_pipeline(name: str) -> tuple[Any, Callable[..., dict[str, Any]]]:
    """The pipeline function and the function that maps a config onto its parameters."""
    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline {name!r} (--pipeline)", fix=f"choose one of {', '.join(PIPELINES)}")
    module_name, function, arguments = PIPELINES[name]
    module = importlib.import_module(module_name)
    from kfp_governance.pipelines import arguments as arguments_module

    return getattr(module, function), getattr(arguments_module, arguments)
