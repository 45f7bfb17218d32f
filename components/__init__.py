"""KFP v2 components of kfp-governance: typed interfaces over the executors.

Importing this package needs only ``kfp``; each component body imports the
runtime library inside its container.

>>> from kfp_governance.components import load_data, gate
>>> load_data.name, gate.name
('load-data', 'gate')
"""

from kfp_governance.components.deploy_model import deploy_model
from kfp_governance.components.evaluate_fairness import evaluate_fairness
from kfp_governance.components.evaluate_model import evaluate_model
from kfp_governance.components.explain_model import explain_model
from kfp_governance.components.gate import gate
from kfp_governance.components.load_data import load_data
from kfp_governance.components.model_card import generate_model_card
from kfp_governance.components.register_model import register_model
from kfp_governance.components.resolve_champion import resolve_champion
from kfp_governance.components.train_model import train_model
from kfp_governance.components.validate_data import validate_data

__all__ = ["load_data", "resolve_champion", "validate_data", "train_model", "evaluate_model", "evaluate_fairness",
           "explain_model", "gate", "generate_model_card", "register_model", "deploy_model"]
