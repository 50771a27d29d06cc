"""The Helm chart on a real kube-apiserver: install, upgrade with a CRD change, uninstall.

The tests run in file order on one release, as an administrator would: install, check
what the ServiceAccount may do, upgrade to a chart whose CRD changed, uninstall, and
install again over the CRDs that uninstall kept. The control plane is this module's own
(own_control_plane): the chart owns the CRDs and the ClusterRole that other modules use.
There is no kubelet, so the operator pod never runs; the objects are what is checked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.kube import can_i, create_token, kubectl, kubectl_json
from tests.e2e.kube import run as kubectl_run
from tests.helm import CHART, NAMESPACE, RELEASE, helm, template

pytestmark = pytest.mark.e2e

CRDS = ("hostnamespaceexceptions.hostns.io", "hostnamespacefindings.hostns.io")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
# (group, resource, subresource): what the operator uses, and what it must not have.
RESOURCES = [
    ("", "pods", ""), ("", "pods", "status"), ("", "pods", "exec"), ("", "events", ""),
    ("", "secrets", ""), ("", "configmaps", ""), ("", "namespaces", ""),
    ("hostns.io", "hostnamespacefindings", ""), ("hostns.io", "hostnamespacefindings", "status"),
    ("hostns.io", "hostnamespaceexceptions", ""),
    ("hostns.io", "hostnamespaceexceptions", "status"),
    ("coordination.k8s.io", "leases", ""), ("apps", "deployments", ""),
    ("apiextensions.k8s.io", "customresourcedefinitions", ""),
]


class Cluster:
    def __init__(self, plane: Any) -> None:
        self.plane = plane
        self.kubeconfig = Path(plane.kubeconfig)

    def helm(self, *args: str, check: bool = True) -> Any:
        return helm(*args, kubeconfig=self.kubeconfig, check=check)

    def get(self, *args: str) -> Any:
        return kubectl_json(self.kubeconfig, "get", *args)

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        args = ["get", kind, name, "--ignore-not-found", "-o", "name"]
        if namespace:
            args += ["-n", namespace]
        return bool(kubectl(self.kubeconfig, *args).strip())


@pytest.fixture(scope="module")
def cluster(own_control_plane: Any) -> Cluster:
    return Cluster(own_control_plane)


# The README's "Install with Helm": Helm does not label a namespace it creates, so the
# namespace is made first, with deploy/base's Pod Security labels.
POD_SECURITY = {f"pod-security.kubernetes.io/{mode}": "restricted"
                for mode in ("enforce", "audit", "warn")}


def install(cluster: Cluster, chart: Path = CHART) -> str:
    if not cluster.exists("namespace", NAMESPACE):
        kubectl(cluster.kubeconfig, "create", "namespace", NAMESPACE)
        kubectl(cluster.kubeconfig, "label", "namespace", NAMESPACE,
                *(f"{k}={v}" for k, v in POD_SECURITY.items()),
                "pod-security.kubernetes.io/enforce-version=latest")
    return str(cluster.helm("install", RELEASE, str(chart), "--namespace", NAMESPACE).stdout)


def manifest(cluster: Cluster) -> list[dict[str, Any]]:
    out = cluster.helm("get", "manifest", RELEASE, "--namespace", NAMESPACE).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _rules_allow(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
               and not r.get("resourceNames") for r in rules)


# --- install -------------------------------------------------------------------------------


def test_install_creates_every_object_of_the_release(cluster: Cluster) -> None:
    install(cluster)
    objs = manifest(cluster)
    assert {o["kind"] for o in objs} >= {
        "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
        "Deployment", "Service"}
    for obj in objs:
        meta = obj["metadata"]
        assert cluster.exists(obj["kind"], meta["name"], meta.get("namespace")), (
            f"{obj['kind']} {meta['name']} was not created")
    deployment = cluster.get("deployment", RELEASE, "-n", NAMESPACE)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == RELEASE


def test_the_crds_are_served_and_marked_to_be_kept(cluster: Cluster) -> None:
    for name in CRDS:
        crd = cluster.get("crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", name
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    # Served: a custom object can be created (and is kept for the uninstall test).
    kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": "kube-proxy"},
        "spec": {"reason": "kube-proxy programs node networking",
                 "images": ["registry.k8s.io/kube-proxy:*"], "hostNamespaces": ["hostNetwork"],
                 "namespaces": ["kube-system"]},
    }))


@pytest.fixture(scope="module")
def as_operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig with a token of the chart's ServiceAccount (valid while it exists)."""
    token = create_token(cluster.kubeconfig, NAMESPACE, RELEASE)
    path: Path = cluster.plane.kubeconfig_for_token(
        token, tmp_path_factory.mktemp("helm") / "operator.kubeconfig")
    return path


def test_the_service_account_may_do_exactly_what_the_cluster_role_grants(
    cluster: Cluster, as_operator: Path
) -> None:
    role = cluster.get("clusterrole", RELEASE)
    wrong = []
    for group, resource, sub in RESOURCES:
        target = f"{resource}.{group}" if group else resource
        for verb in VERBS:
            extra = ["--all-namespaces"] + ([f"--subresource={sub}"] if sub else [])
            allowed = can_i(as_operator, verb, target, *extra)
            expected = _rules_allow(role["rules"], group, f"{resource}/{sub}" if sub else resource,
                                    verb)
            if allowed != expected:
                wrong.append(f"{verb} {target}{'/' + sub if sub else ''}: "
                             f"can-i {allowed}, ClusterRole {expected}")
    assert not wrong, "\n".join(wrong)
    # The matrix above can tell yes from no.
    assert can_i(as_operator, "list", "pods", "--all-namespaces")
    assert not can_i(as_operator, "create", "pods", "-n", NAMESPACE)


# --- upgrade with a CRD change -------------------------------------------------------------


def test_upgrade_changes_the_served_crd(cluster: Cluster, tmp_path: Path) -> None:
    changed = tmp_path / "hostns-operator"
    shutil.copytree(CHART, changed)
    crd_file = changed / "files" / "crds" / "hostnamespaceexceptions.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    version = crd["spec"]["versions"][0]
    version["additionalPrinterColumns"].append({
        "name": "Reason", "type": "string", "jsonPath": ".spec.reason",
        "description": "Why the images are trusted.",
    })
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))

    before = kubectl(cluster.kubeconfig, "get", "hostnamespaceexceptions")
    assert "REASON" not in before.splitlines()[0]
    cluster.helm("upgrade", RELEASE, str(changed), "--namespace", NAMESPACE)
    served = cluster.get("crd", CRDS[0])["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in served][-1] == "Reason"
    # The API server prints the new column: the change is served, not only stored.
    after = kubectl(cluster.kubeconfig, "get", "hostnamespaceexceptions")
    assert "REASON" in after.splitlines()[0], after
    assert "kube-proxy programs node networking" in after

    # And back to the repository's chart: the column goes away again.
    cluster.helm("upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE)
    served = cluster.get("crd", CRDS[0])["spec"]["versions"][0]["additionalPrinterColumns"]
    assert "Reason" not in [c["name"] for c in served]
    history = cluster.helm("history", RELEASE, "--namespace", NAMESPACE, "-o", "json").stdout
    assert [h["revision"] for h in json.loads(history)] == [1, 2, 3]


def test_ha_mode_runs_two_replicas_with_rights_on_their_one_lease_only(
    cluster: Cluster, as_operator: Path
) -> None:
    cluster.helm("upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE,
                 "--set", "ha.enabled=true")
    deployment = cluster.get("deployment", RELEASE, "-n", NAMESPACE)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert cluster.exists("poddisruptionbudget", RELEASE, NAMESPACE)
    lease = "leases.coordination.k8s.io"
    here = ("-n", NAMESPACE)
    assert can_i(as_operator, "get", f"{lease}/hostns-operator", *here)
    assert can_i(as_operator, "update", f"{lease}/hostns-operator", *here)
    assert can_i(as_operator, "create", lease, *here)
    assert not can_i(as_operator, "get", f"{lease}/another-lease", *here)
    assert not can_i(as_operator, "delete", f"{lease}/hostns-operator", *here)
    assert not can_i(as_operator, "list", lease, *here)
    assert not can_i(as_operator, "get", f"{lease}/hostns-operator", "-n", "default")

    # Back to one replica: the Lease's Role and the budget go with the mode.
    # --reset-values: without values, helm upgrade would reuse ha.enabled=true.
    cluster.helm("upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--reset-values")
    assert cluster.get("deployment", RELEASE, "-n", NAMESPACE)["spec"]["replicas"] == 1
    assert not cluster.exists("role", f"{RELEASE}-leader-election", NAMESPACE)
    assert not cluster.exists("poddisruptionbudget", RELEASE, NAMESPACE)
    assert not can_i(as_operator, "create", lease, *here)


def test_the_api_server_accepts_the_rendering_with_every_switch_on(cluster: Cluster) -> None:
    # The switches helm install did not exercise above, judged by the API server's own
    # validation (server-side dry run). ServiceMonitor's CRD belongs to Prometheus
    # Operator, which this control plane does not serve.
    if not cluster.exists("namespace", "team-a"):
        kubectl(cluster.kubeconfig, "create", "namespace", "team-a")
    docs = [d for d in template("namespace.create=true", "ha.enabled=true",
                                "networkPolicy.enabled=true", "config.namespaces={team-a}",
                                "config.coalesce=1s", "config.verbose=true")
            if d["kind"] != "ServiceMonitor"]
    result = kubectl_run(cluster.kubeconfig, "apply", "--dry-run=server", "-f", "-",
                         stdin=yaml.safe_dump_all(docs), check=False)
    assert result.returncode == 0, result.stderr
    judged = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(judged) == len(docs), result.stdout


# --- uninstall -----------------------------------------------------------------------------


def test_uninstall_keeps_the_crds_and_their_objects_and_removes_the_rest(
    cluster: Cluster
) -> None:
    objs = manifest(cluster)
    result = cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
    assert "kept due to the resource policy" in result.stdout + result.stderr
    for name in CRDS:
        assert cluster.exists("crd", name), f"{name} was deleted"
    assert cluster.exists("hostnamespaceexception", "kube-proxy"), "the policy was lost"
    left = [f"{o['kind']} {o['metadata']['name']}" for o in objs
            if o["kind"] != "CustomResourceDefinition"
            and cluster.exists(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace"))]
    assert not left, f"left behind by helm uninstall: {left}"


def test_install_again_takes_over_the_kept_crds(cluster: Cluster) -> None:
    install(cluster)
    assert cluster.exists("deployment", RELEASE, NAMESPACE)
    status = kubectl_run(cluster.kubeconfig, "get", "crd", CRDS[0], "-o",
                         "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}")
    assert status.stdout == RELEASE
    cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
