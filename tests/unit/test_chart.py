"""The Helm chart is the kustomize install in another form (SPEC 8).

Each rendering of the chart is compared object by object with the kustomization it
stands for: the same objects (kind, namespace, name) and, in each, the same fields,
modulo Helm's own labels. A difference is reported as a list of paths with both
values, e.g.

    Deployment hostns-system/hostns-operator
      spec.template.spec.containers[name=operator].readinessProbe.httpGet.path:
        kustomize '/readyz' != chart '/healthz'

so a change to deploy/ that the chart does not follow yet says exactly what to port.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm import CHART, NAMESPACE, RELEASE, Manifest, helm, template

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# Labels Helm's conventions add and kustomize has no equivalent for: they say which
# release and chart version manage an object, and change nothing in the cluster's
# behaviour (no selector uses them).
HELM_LABELS = frozenset({
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
})

# Every other difference the comparison accepts: annotations, each with its reason.
# Keep this short: each entry is a place where the chart is knowingly not kustomize.
ACCEPTED_ANNOTATIONS = {
    # The chart's CRDs are kept by `helm uninstall` (deploy/base has no uninstall).
    ("CustomResourceDefinition", "helm.sh/resource-policy"): "only Helm reads it",
    # The same check skipped for the same reason; the remedy named differs (the
    # image.digest value in the chart, kustomize images in deploy/).
    ("Deployment", "checkov.io/skip2"): "the remedy's wording",
}


# --- rendering ---------------------------------------------------------------------------


@cache
def _kustomize(directory: str) -> tuple[Manifest, ...]:
    result = subprocess.run(["kubectl", "kustomize", directory],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def kustomize(*components: str, resource: str = "deploy/base") -> list[Manifest]:
    """`kubectl kustomize` of a kustomization, or of deploy/base with components."""
    if not components:
        return list(_kustomize(str(REPO / resource)))
    work = REPO / ".pytest_cache" / "chart-kustomize" / "-".join(
        Path(c).name for c in components)
    work.mkdir(parents=True, exist_ok=True)
    (work / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / resource, work)],
        "components": [os.path.relpath(REPO / c, work) for c in components],
    }))
    return list(_kustomize(str(work)))


def key(obj: Manifest) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


def _without_helm_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    if labels is None:
        return None
    return {k: v for k, v in labels.items() if k not in HELM_LABELS}


def normalised(obj: Manifest) -> Manifest:
    """A copy without Helm's labels (on the object and its pod template) and without
    the accepted annotations."""
    copy: Manifest = json.loads(json.dumps(obj))
    meta = copy["metadata"]
    meta["labels"] = _without_helm_labels(meta.get("labels"))
    pod_template = copy.get("spec", {}).get("template", {}).get("metadata")
    if isinstance(pod_template, dict) and "labels" in pod_template:
        pod_template["labels"] = _without_helm_labels(pod_template["labels"])
    annotations = meta.get("annotations") or {}
    for kind, annotation in ACCEPTED_ANNOTATIONS:
        if kind == copy["kind"]:
            annotations.pop(annotation, None)
    if "annotations" in meta and not annotations:
        del meta["annotations"]
    return copy


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects with unique names, as a dict by name; None for other lists."""
    if not items or not all(isinstance(i, dict) and "name" in i for i in items):
        return None
    names = [i["name"] for i in items]
    return dict(zip(names, items, strict=True)) if len(set(names)) == len(names) else None


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Every path where the two differ, as 'path: kustomize X != chart Y'.

    Lists of named items (containers, env, ports, volumes...) are compared by name:
    Kubernetes merges them by name, and their order has no effect here (env order
    matters only to $(VAR) references, which test_no_env_value_references_another
    rules out). Other lists are compared item by item.
    """
    if isinstance(left, dict) and isinstance(right, dict):
        return _keyed(left, right, lambda k: f"{path}.{k}" if path else str(k))
    if isinstance(left, list) and isinstance(right, list):
        named_left, named_right = _named(left), _named(right)
        if named_left is not None and named_right is not None:
            return _keyed(named_left, named_right, lambda n: f"{path}[name={n}]")
        return _keyed(dict(enumerate(left)), dict(enumerate(right)), lambda i: f"{path}[{i}]")
    if left != right or type(left) is not type(right):
        return [f"{path}: kustomize {left!r} != chart {right!r}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def _keyed(left: dict[Any, Any], right: dict[Any, Any],
           where: Callable[[Any], str]) -> list[str]:
    out: list[str] = []
    for k in sorted(set(left) | set(right)):
        if k not in right:
            out.append(f"{where(k)}: only in kustomize ({_short(left[k])})")
        elif k not in left:
            out.append(f"{where(k)}: only in the chart ({_short(right[k])})")
        else:
            out += differences(left[k], right[k], where(k))
    return out


def compare(expected: Iterable[Manifest], rendered: Iterable[Manifest]) -> list[str]:
    """The report of what differs between a kustomize build and a chart rendering."""
    left = {key(o): normalised(o) for o in expected}
    right = {key(o): normalised(o) for o in rendered}
    report: list[str] = []
    for k in sorted(set(left) - set(right)):
        report.append(f"{k}: rendered by kustomize only")
    for k in sorted(set(right) - set(left)):
        report.append(f"{k}: rendered by the chart only")
    for k in sorted(set(left) & set(right)):
        lines = differences(left[k], right[k])
        if lines:
            report.append(k + "\n" + "\n".join(f"  {d}" for d in lines))
    return report


def assert_same(expected: list[Manifest], rendered: list[Manifest], what: str) -> None:
    report = compare(expected, rendered)
    assert not report, (
        f"the chart ({what}) differs from kustomize in {len(report)} object(s):\n"
        + "\n".join(report)
    )


# --- the chart equals the kustomize install ---------------------------------------------


# namespace.create=true: the chart then renders the Namespace as deploy/base does (the
# default leaves it to the installer: test_default_values_render_deploy_base_but_the_namespace).
EQUIVALENT = [
    pytest.param("deploy/base", (), [], id="deploy/base"),
    pytest.param("deploy/overlays/ha", (), ["ha.enabled=true"], id="ha-vs-overlays/ha"),
    pytest.param("deploy/overlays/namespaced", (), ["config.namespaces={team-a,team-b}"],
                 id="namespaces-vs-overlays/namespaced"),
    pytest.param("deploy/base", ("deploy/components/servicemonitor",),
                 ["serviceMonitor.enabled=true"], id="servicemonitor-vs-component"),
    pytest.param("deploy/base", ("deploy/components/prometheusrule",),
                 ["prometheusRule.enabled=true"], id="prometheusrule-vs-component"),
    pytest.param("deploy/base", ("deploy/components/networkpolicy",),
                 ["networkPolicy.enabled=true"], id="networkpolicy-vs-component"),
    pytest.param("deploy/base", ("deploy/components/prevention",),
                 ["prevention.enabled=true"], id="prevention-vs-component"),
    pytest.param("deploy/base", ("deploy/components/prevention-deny",),
                 ["prevention.enabled=true", "prevention.deny=true"],
                 id="prevention-deny-vs-component"),
    pytest.param("deploy/base", ("deploy/components/openreports",),
                 ["reports.openreports.enabled=true"], id="openreports-vs-component"),
    pytest.param("deploy/examples/full", (),
                 ["serviceMonitor.enabled=true", "networkPolicy.enabled=true",
                  "prometheusRule.enabled=true"],
                 id="monitoring-and-network-switches-vs-examples/full"),
]


@pytest.mark.parametrize(("resource", "components", "sets"), EQUIVALENT)
def test_the_chart_renders_what_kustomize_builds(
    resource: str, components: tuple[str, ...], sets: list[str]
) -> None:
    expected = kustomize(*components, resource=resource)
    assert_same(expected, template("namespace.create=true", *sets),
                " ".join(["namespace.create=true", *sets]))


def test_default_values_render_deploy_base_but_the_namespace() -> None:
    # The installer creates the release namespace (values.yaml, namespace.create).
    expected = [o for o in kustomize() if o["kind"] != "Namespace"]
    assert len(expected) == len(kustomize()) - 1
    assert_same(expected, template(), "default values")


def test_the_comparison_reports_a_changed_field_by_path_with_both_values() -> None:
    # The comparison itself must be able to fail, and say where.
    base = kustomize()
    changed = json.loads(json.dumps(base))
    deployment = next(o for o in changed if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/ready-elsewhere"
    container["env"].append({"name": "HOSTNS_COALESCE", "value": "1s"})
    changed.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "extra", "namespace": NAMESPACE}})
    report = compare(changed, template("namespace.create=true"))
    assert report == [
        "ConfigMap hostns-system/extra: rendered by kustomize only",
        "Deployment hostns-system/hostns-operator\n"
        "  spec.template.spec.containers[name=operator].env[name=HOSTNS_COALESCE]:"
        ' only in kustomize ({"name": "HOSTNS_COALESCE", "value": "1s"})\n'
        "  spec.template.spec.containers[name=operator].readinessProbe.httpGet.path:"
        " kustomize '/ready-elsewhere' != chart '/readyz'",
    ]


def test_no_env_value_references_another() -> None:
    # Why env order may be ignored above: Kubernetes expands $(VAR) from earlier entries.
    for obj in template("ha.enabled=true", "config.namespaces={a}", "config.coalesce=1s"):
        if obj["kind"] == "Deployment":
            for env in obj["spec"]["template"]["spec"]["containers"][0]["env"]:
                assert "$(" not in env.get("value", ""), env


def test_the_only_accepted_differences_are_real() -> None:
    # An accepted difference that no longer occurs is a stale excuse: drop it.
    rendered = template()
    built = kustomize()
    for kind, annotation in ACCEPTED_ANNOTATIONS:
        ours = [o["metadata"].get("annotations", {}).get(annotation)
                for o in rendered if o["kind"] == kind]
        theirs = [o["metadata"].get("annotations", {}).get(annotation)
                  for o in built if o["kind"] == kind]
        assert ours and all(ours), f"the chart has no {annotation} on its {kind}s"
        assert ours != theirs, f"{kind} {annotation} is equal now: drop it from ACCEPTED"


# --- CRDs: one source, installed and upgraded, kept ---------------------------------------


def _crd_files() -> list[str]:
    listed: list[str] = yaml.safe_load((REPO / "crds" / "kustomization.yaml").read_text())[
        "resources"]
    return sorted(listed)


def test_the_charts_crds_are_a_byte_for_byte_copy_of_crds() -> None:
    copies = sorted(p.name for p in (CHART / "files" / "crds").glob("*.yaml"))
    assert copies == _crd_files(), "run `make chart-crds`"
    for name in copies:
        source = (REPO / "crds" / name).read_bytes()
        copy = (CHART / "files" / "crds" / name).read_bytes()
        assert copy == source, f"charts/hostns-operator/files/crds/{name} is stale: run `make chart-crds`"


def test_crds_are_templates_not_helms_crds_folder_which_helm_never_upgrades() -> None:
    assert not (CHART / "crds").exists()
    crds = [o for o in template() if o["kind"] == "CustomResourceDefinition"]
    assert sorted(o["metadata"]["name"] for o in crds) == [
        "hostnamespaceadmissionparams.hostns.io", "hostnamespaceexceptions.hostns.io",
        "hostnamespacefindings.hostns.io"]
    for crd in crds:
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_the_packaged_chart_renders_the_same_as_the_chart_directory(tmp_path: Path) -> None:
    # What a user installs from a chart repository or OCI registry is `helm package`'s
    # archive: it must carry the CRD copies (real files, not links out of the chart).
    result = helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("hostns-operator-*.tgz")
    assert archive.name in result.stdout
    assert template(chart=archive) == template()
    crds = [o for o in template(chart=archive) if o["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(_crd_files())


def test_crds_can_be_left_to_another_manager_or_left_unprotected() -> None:
    assert not [o for o in template("crds.install=false")
                if o["kind"] == "CustomResourceDefinition"]
    for crd in (o for o in template("crds.keep=false")
                if o["kind"] == "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in crd["metadata"].get("annotations", {})


# --- every setting of `hostns run` is a value ---------------------------------------------


# value -> (what it is set to, the environment variable, what the operator then reads).
SETTINGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "config.namespaces": ("{team-a,team-b}", "HOSTNS_NAMESPACES",
                          {"namespaces": ("team-a", "team-b")}),
    "config.retention": ("30d", "HOSTNS_RETENTION", {"retention_seconds": 30 * 86400.0}),
    "config.logFormat": ("text", "HOSTNS_LOG_FORMAT", {"log_format": "text"}),
    "config.port": ("9090", "HOSTNS_PORT", {"port": 9090}),
    "config.events": ("false", "HOSTNS_EVENTS", {"events": False}),
    "config.resyncInterval": ("1h", "HOSTNS_RESYNC_INTERVAL", {"resync_seconds": 3600.0}),
    "config.coalesce": ("2s", "HOSTNS_COALESCE", {"coalesce_seconds": 2.0}),
    "ha.enabled": ("true", "HOSTNS_LEADER_ELECT", {"leader_elect": True}),
    "config.leaderElection.namespace": ("ops", "HOSTNS_LEADER_ELECT_NAMESPACE",
                                        {"leader_elect_namespace": "ops"}),
    "config.leaderElection.lease": ("hostns-a", "HOSTNS_LEADER_ELECT_LEASE",
                                    {"leader_elect_lease": "hostns-a"}),
    "config.leaderElection.duration": ("30s", "HOSTNS_LEADER_ELECT_DURATION",
                                       {"leader_elect_seconds": 30.0}),
    "config.verbose": ("true", "--verbose", {"verbose": True}),
    "prevention.enabled": ("true", "HOSTNS_PREVENTION", {"prevention": True}),
    "reports.openreports.enabled": ("true", "HOSTNS_REPORTS", {"reports": "openreports"}),
    "auditWebhook.enabled": ("true", "HOSTNS_AUDIT_WEBHOOK_PORT", {"audit_webhook.port": 8443}),
    "auditWebhook.port": ("9443", "HOSTNS_AUDIT_WEBHOOK_PORT", {"audit_webhook.port": 9443}),
    "auditWebhook.tlsSecret": ("audit-tls", "HOSTNS_AUDIT_WEBHOOK_CERT", {
        "audit_webhook.cert": Path("/etc/hostns/audit-webhook/tls.crt"),
        "audit_webhook.key": Path("/etc/hostns/audit-webhook/tls.key"),
        "audit_webhook.client_ca": Path("/etc/hostns/audit-webhook/ca.crt")}),
    "auditWebhook.tokenSecret": ("audit-token", "HOSTNS_AUDIT_WEBHOOK_TOKEN_FILE", {
        "audit_webhook.token_file": Path("/etc/hostns/audit-webhook-token/token")}),
    "auditWebhook.maxBody": ("4Mi", "HOSTNS_AUDIT_WEBHOOK_MAX_BODY",
                             {"audit_webhook.max_body": 4 << 20}),
}
#: Variables rendered from a value listed above for another variable.
ALSO_SET = {
    "HOSTNS_AUDIT_WEBHOOK_KEY": "auditWebhook.tlsSecret",
    "HOSTNS_AUDIT_WEBHOOK_CLIENT_CA": "auditWebhook.clientCA (with auditWebhook.tlsSecret)",
}


def _operator_config(deployment: Manifest) -> Any:
    """What `hostns run` would read from this container (the operator's own parser)."""
    sys.path.insert(0, str(REPO / "operator"))
    from hostns.live.config import add_run_arguments, config_from_args

    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(container.get("args", [])), env)


def _deployment(*sets: str) -> Manifest:
    return next(o for o in template(*sets) if o["kind"] == "Deployment")


def test_every_flag_of_hostns_run_has_a_value() -> None:
    sys.path.insert(0, str(REPO / "operator"))
    from hostns.live.config import add_run_arguments

    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    flags = {a.option_strings[-1] if a.option_strings[-1].startswith("--") else
             a.option_strings[0] for a in parser._actions if a.option_strings}
    flags -= {"-h", "--help"}
    readme = (REPO / "README.md").read_text()
    covered = {env for _, env, _ in SETTINGS.values()} | set(ALSO_SET)
    for flag in flags:
        row = next((line for line in readme.splitlines()
                    if line.startswith("|") and f"`{flag}" in line), None)
        assert row, f"{flag} is not in the README's Configuration table"
        env = re.search(r"`(HOSTNS_[A-Z_]+)`", row)
        assert (env.group(1) if env else flag) in covered, f"{flag} has no chart value"


@pytest.mark.parametrize("value", sorted(SETTINGS))
def test_each_value_reaches_the_operator_as_its_setting(value: str) -> None:
    setting, variable, expected = SETTINGS[value]
    sets = [f"{value}={setting}"]
    if value.startswith("config.leaderElection."):
        sets.append("ha.enabled=true")
    if value.startswith("auditWebhook."):
        sets = [f"auditWebhook.{k}" for k in ("enabled=true", "tlsSecret=audit-tls")] + sets
    config = _operator_config(_deployment(*sets))
    for field, want in expected.items():
        got: Any = config
        for part in field.split("."):
            got = getattr(got, part)
        assert got == want, f"{value}={setting} ({variable})"


def test_default_values_leave_the_operators_defaults_where_deploy_base_does() -> None:
    config = _operator_config(_deployment())
    assert config.namespaces == () and config.coalesce_seconds == 0.5
    assert not config.leader_elect and not config.verbose
    assert config.log_format == "json" and config.retention_seconds == 7 * 86400.0


def test_the_port_value_moves_the_container_port_and_the_service_together() -> None:
    objs = template("config.port=9090")
    container = next(o for o in objs if o["kind"] == "Deployment")[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    service = next(o for o in objs if o["kind"] == "Service")
    assert service["spec"]["ports"][0]["port"] == 9090
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_the_audit_webhook_mounts_its_secrets_and_gets_a_service_and_a_port() -> None:
    objs = template("auditWebhook.enabled=true", "auditWebhook.tlsSecret=audit-tls",
                    "auditWebhook.tokenSecret=audit-token", "networkPolicy.enabled=true")
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert {"name": "audit-webhook", "containerPort": 8443, "protocol": "TCP"} in \
        container["ports"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"audit-webhook": "audit-tls", "audit-webhook-token": "audit-token"}
    assert all(m["readOnly"] for m in container["volumeMounts"] if m["name"] in secrets)
    service = next(o for o in objs if o["kind"] == "Service"
                   and o["metadata"]["name"].endswith("-audit-webhook"))
    assert service["spec"]["ports"] == [
        {"name": "audit-webhook", "port": 8443, "targetPort": "audit-webhook", "protocol": "TCP"}]
    policy = next(o for o in objs if o["kind"] == "NetworkPolicy")
    assert {"ports": [{"port": "audit-webhook", "protocol": "TCP"}]} in policy["spec"]["ingress"]
    assert len([o for o in template() if o["kind"] == "Service"]) == 1  # off by default


@pytest.mark.parametrize(("sets", "problem"), [
    (["auditWebhook.enabled=true"], "needs auditWebhook.tlsSecret"),
    (["auditWebhook.enabled=true", "auditWebhook.tlsSecret=t", "auditWebhook.clientCA=false"],
     "the API server must be authenticated"),
])
def test_the_audit_webhook_values_fail_closed(sets: list[str], problem: str) -> None:
    result = helm("template", "x", str(CHART), *[a for s in sets for a in ("--set", s)],
                  check=False)
    assert result.returncode != 0 and problem in result.stderr


def test_ha_lease_settings_move_the_role_with_the_lease() -> None:
    objs = template("ha.enabled=true", "config.leaderElection.namespace=ops",
                    "config.leaderElection.lease=hostns-a")
    role = next(o for o in objs if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"][0]["resourceNames"] == ["hostns-a"]
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    assert binding["metadata"]["namespace"] == "ops"
    assert binding["subjects"][0]["namespace"] == NAMESPACE


# --- image ---------------------------------------------------------------------------------


def test_image_defaults_to_the_app_version_and_a_digest_pins_it() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    container = _deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/hostns/hostns-operator:{chart['appVersion']}"
    digest = "sha256:" + "ab" * 32
    pinned = _deployment(f"image.digest={digest}")
    assert pinned["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"ghcr.io/hostns/hostns-operator@{digest}")
    # Pinned by digest, the "no digest" checkov skip has no reason left.
    assert "checkov.io/skip2" not in pinned["metadata"]["annotations"]


# --- values.schema.json refuses bad values ------------------------------------------------


REFUSED = [
    ("config.logFormat=xml", "config.logFormat"),
    ("config.port=0", "config.port"),
    ("config.retention=7days", "config.retention"),
    ("config.coalesce=soon", "config.coalesce"),
    ("config.namespaces={Team_A}", "config.namespaces"),
    ("config.namspaces={team-a}", "namspaces"),
    ("ha.replicas=1", "ha.replicas"),
    ("image.digest=sha256:abc", "image.digest"),
    ("image.pullPolicy=Sometimes", "image.pullPolicy"),
    ("serviceMonitor.interval=often", "serviceMonitor.interval"),
    ("prometheusRule.labels=release", "prometheusRule.labels"),
    ("networkPolicy.apiServerPorts={70000}", "networkPolicy.apiServerPorts"),
    ("reports.sarif.enabled=true", "sarif"),
]


@pytest.mark.parametrize(("pair", "named"), REFUSED, ids=[p for p, _ in REFUSED])
def test_the_values_schema_refuses_a_bad_value_and_names_it(pair: str, named: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", pair, check=False)
    assert result.returncode != 0, f"--set {pair} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    path = "/" + named.replace(".", "/")
    assert named in result.stderr or path in result.stderr, result.stderr


def test_the_prometheus_rule_carries_selector_labels_and_prometheus_templates_verbatim() -> None:
    (rule,) = [o for o in template("prometheusRule.enabled=true",
                                   "prometheusRule.labels.release=kube-prometheus-stack")
               if o["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    component = yaml.safe_load(
        (DEPLOY / "components" / "prometheusrule" / "prometheusrule.yaml").read_text())
    assert rule["spec"] == component["spec"]  # Helm rendered none of {{ $labels.exception }}
    assert "{{ $labels.exception }}" in json.dumps(rule["spec"])
    assert not [o for o in template() if o["kind"] == "PrometheusRule"], "off by default"


def test_openreports_off_renders_nothing_of_openreports_io() -> None:
    assert not [o for o in template() if "openreports" in json.dumps(o)]


def test_openreports_with_watched_namespaces_grants_reports_there_only() -> None:
    objs = template("reports.openreports.enabled=true", "config.namespaces={team-a,team-b}")
    reporting = [o for o in objs if "openreports" in o["metadata"]["name"]]
    assert sorted((o["kind"], o["metadata"]["namespace"]) for o in reporting) == [
        ("Role", "team-a"), ("Role", "team-b"), ("RoleBinding", "team-a"),
        ("RoleBinding", "team-b")]
    component = next(o for o in kustomize("deploy/components/openreports")
                     if o["kind"] == "ClusterRole" and "openreports" in o["metadata"]["name"])
    assert all(o["rules"] == component["rules"] for o in reporting if o["kind"] == "Role")


# --- lint and metadata ---------------------------------------------------------------------


@pytest.mark.parametrize("sets", [
    [], ["ha.enabled=true", "serviceMonitor.enabled=true", "networkPolicy.enabled=true",
         "prometheusRule.enabled=true", "config.namespaces={team-a}",
         "reports.openreports.enabled=true"],
], ids=["default", "every-switch-on"])
def test_helm_lint_strict_passes(sets: list[str]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for pair in sets:
        args += ["--set", pair]
    result = helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_helm_lint_fails_a_broken_chart(tmp_path: Path) -> None:
    # The lint test above can fail: a chart whose template does not parse is refused.
    broken = tmp_path / "hostns-operator"
    subprocess.run(["cp", "-r", str(CHART), str(broken)], check=True)
    (broken / "templates" / "broken.yaml").write_text("{{ if }}\n")
    result = helm("lint", "--strict", str(broken), check=False)
    assert result.returncode != 0


def test_checkov_passes_on_every_rendering_of_the_chart(tmp_path: Path) -> None:
    # The same security checks as the kustomize manifests (test_deploy.py), same config.
    from tests.unit.test_deploy import _checkov

    for name, sets in {
        "default": [], "ha": ["ha.enabled=true"], "namespaced": ["config.namespaces={team-a}"],
        "everything": ["namespace.create=true", "ha.enabled=true", "serviceMonitor.enabled=true",
                       "prometheusRule.enabled=true",
                       "networkPolicy.enabled=true", "reports.openreports.enabled=true",
                       "image.digest=sha256:" + "ab" * 32],
    }.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(template(*sets)))
    result = _checkov("--framework", "kubernetes", "-d", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed checks" in result.stdout


def test_artifact_hub_annotations_describe_what_the_chart_ships() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]
    notes = chart["annotations"]
    assert notes["artifacthub.io/license"] == project["license"]["text"]
    assert notes["artifacthub.io/operator"] == "true"
    crds = yaml.safe_load(notes["artifacthub.io/crds"])
    shipped = {(d["spec"]["names"]["kind"], d["metadata"]["name"], v["name"])
               for d in (yaml.safe_load((REPO / "crds" / f).read_text()) for f in _crd_files())
               for v in d["spec"]["versions"]}
    assert {(c["kind"], c["name"], c["version"]) for c in crds} == shipped
    assert all(c["description"] and c["displayName"] for c in crds)
    images = yaml.safe_load(notes["artifacthub.io/images"])
    rendered = _deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    assert [i["image"] for i in images] == [rendered]
    changes = yaml.safe_load(notes["artifacthub.io/changes"])
    assert changes and {c["kind"] for c in changes} <= {
        "added", "changed", "deprecated", "removed", "fixed", "security"}
    links = yaml.safe_load(notes["artifacthub.io/links"])
    assert all(link["url"].startswith("https://") for link in links)
    for example in yaml.safe_load(notes["artifacthub.io/crdsExamples"]):
        assert example["kind"] in {c["kind"] for c in crds}


def test_another_release_name_renders_consistent_references() -> None:
    out = helm("template", "ops", str(CHART), "--namespace", "security",
               "--set", "ha.enabled=true").stdout
    objs = [d for d in yaml.safe_load_all(out) if d]
    names = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs}
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert ("ServiceAccount", "security", sa) in names
    for binding in (o for o in objs if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        ref = binding["roleRef"]
        scope = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        assert (ref["kind"], scope, ref["name"]) in names, binding["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": "security"}]
    assert all(o["metadata"]["name"].startswith("ops-") for o in objs
               if o["kind"] != "CustomResourceDefinition")
