"""Checks of the Kubernetes base in deploy/k8s (schemas bundled with kubernetes-validate; no cluster)."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
APPS = {"booking": 8080, "scheduler": 8081, "notifier": 8082}
SCALED = ("scheduler", "notifier")
# The oldest Kubernetes version the base claims to support, and a current one.
K8S_VERSIONS = ("1.30.0", "1.33.0")

# Variables every service gets from the ConfigMap or Secret.
REQUIRED_VARIABLES = {
    "MONGODB_URL",
    "MONGODB_DB",
    "AMQP_URL",
    "BOOKING_PORT",
    "SCHEDULER_PORT",
    "NOTIFIER_PORT",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "MAIL_FROM",
    "SMS_PROVIDER",
    "SMS_API_URL",
    "SMS_API_TOKEN",
    "ADMIN_TOKEN",
    "PUBLIC_BASE_URL",
    "LOG_LEVEL",
}
SECRET_VARIABLES = {"MONGODB_URL", "AMQP_URL", "SMTP_PASSWORD", "SMS_API_TOKEN", "ADMIN_TOKEN"}


def _kustomization() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _manifest_files() -> list[Path]:
    return [K8S / name for name in _kustomization()["resources"]]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _all() -> list[dict[str, Any]]:
    return [doc for path in _manifest_files() for doc in _documents(path)]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _all() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _container(name: str) -> dict[str, Any]:
    containers = _one("Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_kustomization_lists_every_manifest() -> None:
    listed = {Path(p).name for p in _kustomization()["resources"]}
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert _kustomization()["namespace"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_manifest_validates_against_kubernetes_schema(path: Path, version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (pip install kubernetes-validate)"
    )
    docs = _documents(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("name", list(APPS))
def test_deployment_has_probes_resources_and_graceful_shutdown(name: str) -> None:
    deployment = _one("Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(name)
    assert container["command"] == ["python", "-m", f"services.{name}"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = _one("ConfigMap", "inspiration-config")["data"]
    assert ports == {"http": APPS[name], "ops": int(config["OPS_PORT"])}, "metrics on the ops port, not the public one"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == config["OPS_PORT"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name}: no {kind}"
    assert pod["terminationGracePeriodSeconds"] >= 30
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("name", list(APPS))
def test_deployment_runs_as_non_root(name: str) -> None:
    pod = _one("Deployment", name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = _container(name)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", list(APPS))
def test_deployment_gets_every_setting(name: str) -> None:
    container = _container(name)
    config = _one("ConfigMap", "inspiration-config")["data"]
    secret = _secret_variables()
    refs = container["envFrom"]
    assert {"configMapRef": {"name": "inspiration-config"}} in refs
    assert {"secretRef": {"name": "inspiration-secrets"}} in refs
    names = set(config) | set(secret) | {e["name"] for e in container.get("env", [])}
    assert names >= REQUIRED_VARIABLES, f"missing {sorted(REQUIRED_VARIABLES - names)}"
    assert config[f"{name.upper()}_PORT"] == str(APPS[name])


def _secret_variables() -> dict[str, str]:
    """The variables of the Secret the admin creates from deploy/k8s/secrets.env.example."""
    lines = (ROOT / "deploy" / "k8s" / "secrets.env.example").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_the_base_ships_no_secret_value_and_says_which_secrets_to_create() -> None:
    assert not [d for d in _all() if d["kind"] == "Secret"], "the admin creates the Secret; the base holds none"
    config = _one("ConfigMap", "inspiration-config")["data"]
    secret = _secret_variables()
    assert set(secret) >= SECRET_VARIABLES
    assert all(value == "" for value in secret.values()), "the example holds no value"
    assert not SECRET_VARIABLES & set(config), "secrets must not be in the ConfigMap"


def test_scheduler_mounts_the_consultants_configmap() -> None:
    container = _container("scheduler")
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = env["CONSULTANTS_FILE"]
    pod = _one("Deployment", "scheduler")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == posixpath.dirname(path)]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    configmap_name = volumes[mounts[0]["name"]]["configMap"]["name"]
    data = _one("ConfigMap", configmap_name)["data"]
    content = yaml.safe_load(data[posixpath.basename(path)])
    assert content, "the consultants ConfigMap is empty"


def test_consultants_configmap_has_the_shape_of_the_example_file() -> None:
    example = ROOT / "deploy" / "consultants.example.yaml"
    if not example.exists():
        pytest.skip("deploy/consultants.example.yaml does not exist yet")
    expected = yaml.safe_load(example.read_text(encoding="utf-8"))
    data = _one("ConfigMap", "inspiration-consultants")["data"]
    actual = yaml.safe_load(data["consultants.yaml"])
    assert type(actual) is type(expected)
    if isinstance(expected, dict):
        assert set(actual) == set(expected)


@pytest.mark.parametrize("name", list(APPS))
def test_service_selects_its_deployment(name: str) -> None:
    service = _one("Service", name)
    labels = _one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("name", SCALED)
def test_hpa_scales_the_consumers(name: str) -> None:
    hpa = _one("HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"], "HPA without metrics"
    assert "replicas" not in _one("Deployment", name)["spec"], "the HPA owns the replica count"
