"""Deployment files: the example config, compose, Kubernetes manifests, Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from proxy.config.loader import inspect_config, load_config, parse_config
from proxy.signing import keys_generate

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "examples" / "edgeward.yaml"


def test_example_config_loads_with_its_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    names = [r.name for r in config.routes]
    assert names == ["public", "public-items", "stream", "ws", "api", "admin"]
    assert {r.to for r in config.routes} == {"http://127.0.0.1:9000"}
    assert (config.listen, config.admin_listen, config.store) == (
        "127.0.0.1:8080",
        "127.0.0.1:9090",
        "memory",
    )


def test_example_config_takes_the_compose_environment() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"proxy", "backend", "redis", "idp"}
    report = inspect_config(EXAMPLE, env=compose["services"]["proxy"]["environment"])
    assert (report.errors, report.warnings) == ([], [])
    assert report.config is not None
    assert report.config.store == "redis://redis:6379/0"
    assert {r.to for r in report.config.routes} == {"http://backend:9000"}


def kubernetes_objects() -> dict[str, dict[str, Any]]:
    docs = [
        yaml.safe_load(p.read_text())
        for p in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        if p.name != "kustomization.yaml"
    ]
    return {d["kind"]: d for d in docs}


def test_kubernetes_configmap_holds_a_valid_config(tmp_path: Path) -> None:
    text = kubernetes_objects()["ConfigMap"]["data"]["edgeward.yaml"]
    # The Secret mounts the signing key at this path; here a generated key stands in.
    mounted = "/run/secrets/edgeward/signing-key.jwk"
    assert mounted in text
    key = tmp_path / "signing-key.jwk"
    keys_generate(str(key), "EdDSA")
    config = parse_config(
        text.replace(mounted, str(key)),
        source="configmap",
        env={"EDGEWARD_STORE": "redis://redis:6379/0"},
        base_dir=tmp_path,
    )
    assert config.admin_listen.endswith(":9090")
    assert config.store == "redis://redis:6379/0"


def test_kubernetes_deployment_probes_and_hardening() -> None:
    objects = kubernetes_objects()
    kustomized = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert len(kustomized["resources"]) == len(objects)
    assert set(objects) >= {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/livez", "port": "admin"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "admin"}
    assert {"name": "admin", "containerPort": 9090} in container["ports"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Longer than the proxy's drain delay plus grace, or in-flight streams are killed.
    assert pod["terminationGracePeriodSeconds"] > 5 + 30


def test_dockerfile_entrypoint_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["edgeward"]' in text
    assert 'CMD ["run", "--config", "/etc/edgeward/edgeward.yaml"]' in text
    assert "http://127.0.0.1:9090/livez" in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert "!deploy/examples/edgeward.yaml" in (ROOT / ".dockerignore").read_text()
