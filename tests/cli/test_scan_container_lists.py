"""`hostns scan`: container lists that are not lists of containers are bad input (exit 2).

Kubernetes would refuse such a pod, but a scanner meets it in Git; read as
empty, `containers: {}` beside a trusted init container would pass the gate.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Hostns

TRUST_NGINX = """\
apiVersion: hostns.io/v1alpha1
kind: HostNamespaceException
metadata: {name: nginx}
spec: {reason: test, images: [nginx]}
"""


def _daemonset(pod_spec: dict[str, Any]) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "ops"},
        "spec": {"template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod_spec}},
    })


@pytest.mark.parametrize("key", ["initContainers", "containers", "ephemeralContainers"])
@pytest.mark.parametrize("value", [None, {}, "", 0, False], ids=["null", "map", "string", "zero", "false"])
def test_a_container_list_that_is_not_a_list_is_bad_input_naming_the_document(
    hostns: Hostns, tmp_path: Any, key: str, value: Any
) -> None:
    spec: dict[str, Any] = {"hostNetwork": True, "initContainers": [{"name": "i", "image": "nginx"}],
                            "containers": [{"name": "c", "image": "nginx"}]}
    spec[key] = value
    manifest = tmp_path / "agent.json"
    manifest.write_text(_daemonset(spec))
    policy = tmp_path / "policy.yaml"
    policy.write_text(TRUST_NGINX)
    run = hostns("scan", "-f", str(manifest), "--exceptions", str(policy))
    assert run.code == 2
    assert f"{manifest}: document 1: DaemonSet: spec.template.spec.{key} must be a list of containers" in run.err
    assert "Traceback" not in run.err


@pytest.mark.parametrize(
    ("containers", "problem"),
    [
        pytest.param(["nginx"], "spec.template.spec.containers[0] must be a container object", id="string entry"),
        pytest.param([{"name": "c", "image": 7}], "spec.template.spec.containers[0].image must be a non-empty string", id="number image"),
        pytest.param([{"name": "c"}], "spec.template.spec.containers[0].image must be a non-empty string", id="no image"),
    ],
)
def test_a_container_that_is_not_an_object_with_a_string_image_is_bad_input(
    hostns: Hostns, tmp_path: Any, containers: Any, problem: str
) -> None:
    manifest = tmp_path / "agent.json"
    manifest.write_text(_daemonset({"hostNetwork": True, "containers": containers}))
    run = hostns("scan", "-f", str(manifest))
    assert run.code == 2
    assert problem in run.err
