"""KFP interface of :mod:`kfp_governance.executors.deploy_model`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

from kfp_governance.components._image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def deploy_model(
    registration: Input[Artifact],
    blessing: Input[Artifact],
    eval_data: Input[Dataset],
    deployment: Output[Artifact],
    summary: Output[Markdown],
    registry_backend: str = "mlflow",
    registry_uri: str = "",
    serving_backend: str = "local",
    serving_settings: dict = {},
    approval_rule: str = "required",
    approvers: list = [],
    deployment_policy: dict = {},
    protected_attributes: list = [],
    alerts_webhook_env: str = "KFP_GOVERNANCE_ALERT_WEBHOOK",
):
    """Deploy the registered version through the policy: blessed, approved where required, canary judged.

    Acts only on a blessing that says ``blessed: true`` and an approval that
    meets ``approval_rule`` (``auto``: the blessing is enough; ``required``: a
    recorded approval of this version, given with ``kfp-governance approve``,
    which runs the same executor days later). The model file is verified
    against the registered sha256, rolled out as a canary at
    ``deployment_policy.canary_percent``, smoke-tested and judged against the
    champion, then promoted to ``champion`` or rolled back; every step is an
    audit record in the registry. Not blessed or not approved: nothing
    changes and the reason is recorded. ``deployment`` is the JSON outcome,
    ``summary`` renders in the KFP UI.

    Usage in a pipeline::

        deploy = deploy_model(registration=register.outputs["registration"], blessing=judge.outputs["blessing"],
                              eval_data=load.outputs["eval_data"], approval_rule="required",
                              deployment_policy={"canary_percent": 10, "max_p99_latency_ms": 200.0})
        deploy.set_caching_options(False)
    """
    import json

    from kfp_governance.config import RegistryConfig, ServingConfig
    from kfp_governance.executors.deploy_model import deploy_model as execute
    from kfp_governance.executors.deploy_model import render_markdown, write_result
    from kfp_governance.launcher import step
    from kfp_governance.registry import open_registry
    from kfp_governance.serving import open_serving

    with step("deploy_model"):
        registered = registration.metadata
        with open(blessing.path, encoding="utf-8") as stream:
            decision = json.load(stream)
        registry = open_registry(RegistryConfig(backend=registry_backend, model_name=registered["model_name"],
                                                tracking_uri=registry_uri or None))
        serving = open_serving(ServingConfig(backend=serving_backend, **serving_settings))
        result = execute(
            registry, serving, model_name=registered["model_name"], version=str(registered["version"]),
            blessed=bool(decision.get("blessed")), blessing_reason=", ".join(decision.get("failed_checks") or []),
            eval_path=eval_data.path, protected_attributes=protected_attributes, approval_rule=approval_rule,
            approvers=list(approvers), policy=deployment_policy, actor="pipeline", webhook_env=alerts_webhook_env,
            expected_sha256=decision.get("model_sha256"),
        )
        write_result(result, deployment.path)
        with open(summary.path, "w", encoding="utf-8") as out:
            out.write(render_markdown(result))
        deployment.metadata.update({"outcome": result.outcome, "model_name": result.model_name,
                                    "version": result.version, "reason": result.reason,
                                    "replaced": result.replaced or "", "endpoint": result.endpoint or ""})
