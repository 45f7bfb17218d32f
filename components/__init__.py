"""KFP v2 components of kfp-governance: typed interfaces over the executors.

Importing this package needs only ``kfp``; each component body imports the
runtime library inside its container.

>>> from kfp_governance.components import load_data, train_model, evaluate_model
>>> load_data.name
'load-data'
"""

from kfp_governance.components.evaluate_model import evaluate_model
from kfp_governance.components.load_data import load_data
from kfp_governance.components.train_model import train_model

__all__ = ["load_data", "train_model", "evaluate_model"]
