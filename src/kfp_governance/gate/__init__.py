"""The blessing gate: a policy, the checks it implies, and the decision as data."""
