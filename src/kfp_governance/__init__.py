"""kfp-governance: Kubeflow Pipelines v2 components for governed ML.

The package is split in layers (see ``ARCHITECTURE.md`` of the project):

* ``kfp_governance.executors``: plain Python steps, no kfp import;
* ``kfp_governance.components``: thin KFP component interfaces;
* ``kfp_governance.pipelines``: reference pipelines and the CLI.

Importing this top-level package is cheap: it imports nothing heavy.
"""

__version__ = "0.1.0"
