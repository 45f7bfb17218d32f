"""Gated deployment: the canary judge, alerts, and the orchestration in :mod:`kfp_governance.executors.deploy_model`."""
