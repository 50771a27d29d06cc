"""Prevention (SPEC 7) on a real kube-apiserver: the shipped ValidatingAdmissionPolicy,
fed by the compiler, agrees with the engine, and each promise of docs/prevention.md holds.

The agreement run compares, for 1,200 seeded-random pods and workloads, the API server's
decision (server-side dry-run under Deny) with the engine's verdict on the same pod spec
(hostns.core.evaluation.evaluate over hostns.core.pods.containers_of with an empty status: at
admission no kubelet has reported a digest, for the engine as for the policy).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.kube import kubectl, kubectl_json, run
from tests.e2e.prevention_kit import (
    WORKLOADS,
    Params,
    decisions,
    exception,
    install,
    parse_denial,
    pod,
    pod_spec,
    template_of,
    workload,
)

from hostns.core.evaluation import VIOLATION, PodVerdict, evaluate
from hostns.core.exceptions import ExceptionSet, compile_exception
from hostns.core.images import ImageError, parse_image
from hostns.core.pods import containers_of, flags_of
from hostns.core.rules import FLAGS

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a1" * 32
OTHER_DIGEST = "sha256:" + "b2" * 32
NAMESPACES = ("default", "ops", "kube-system")
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: [pods]
      - group: apps
        resources: [deployments]
  - level: None
"""


@pytest.fixture(scope="module")
def plane(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A control plane of our own, with an audit log (the Audit action's record).

    `control_plane` (conftest) decides whether e2e can run at all; with
    HOSTNS_E2E_KUBECONFIG the suite runs on that cluster and the audit log is not ours
    to read.
    """
    if os.environ.get("HOSTNS_E2E_KUBECONFIG"):
        yield control_plane
        return
    import launcher  # hack/controlplane, put on sys.path by conftest

    policy = tmp_path_factory.mktemp("audit") / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    own = launcher.ControlPlane(bin_dir=launcher.find_bin_dir(), audit_policy=policy)
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def kubeconfig(plane: Any) -> Iterator[Path]:
    config: Path = plane.kubeconfig
    for namespace in NAMESPACES:
        run(config, "create", "namespace", namespace, check=False)
    install(config, deny=True)
    yield config
    run(config, "delete", "validatingadmissionpolicybinding", "hostns-prevention",
        "--ignore-not-found")


@pytest.fixture
def deny(kubeconfig: Path) -> Path:
    """Deny mode (the fixture leaves the cluster in it after tests that switch to Warn)."""
    install(kubeconfig, deny=True)
    return kubeconfig


@pytest.fixture
def params(kubeconfig: Path) -> Params:
    return Params(kubeconfig)


def verdict_of(body: dict[str, Any], exceptions: ExceptionSet) -> PodVerdict:
    """The engine's verdict on the pod (template) of `body`, as at admission."""
    template = template_of(body)
    spec = template["spec"]
    return evaluate(body["metadata"]["namespace"], template["metadata"].get("labels", {}),
                    flags_of(spec), containers_of(spec, {}), exceptions)


# --- agreement ---------------------------------------------------------------------------

REGISTRIES = ("", "docker.io/", "index.docker.io/", "registry.k8s.io/", "ghcr.io/",
              "quay.io:443/", "Quay.IO:443/", "localhost:5000/", "localhost/")
REPOS = ("nginx", "acme/agent", "acme/agent-debug", "acme/tools/agent", "library/nginx",
         "kube-proxy", "acme/agent.v2")
TAGS = ("", ":1.0", ":1.0.1", ":latest", ":v2-rc", ":V2")
ODD_IMAGES = ("Nginx", "ghcr.io/acme/Agent:1.0", "nginx:", "ghcr.io//agent", "acme/agent:1.0@",
              "nginx@sha256:abc", "-nginx",
              "quay.io:443/acme/agent:" + "x" * 129)
# Not generated: `a_b.io/agent`, which the grammar reads as a path with no registry host
# and the policy as an invalid host: both trust nothing, but they name it differently.
PATTERN_REPOS = (*REPOS, "acme/*", "acme/agent*", "acme/tools/*", "acme/*-debug")
PATTERN_TAGS = ("", ":*", ":1.*", ":*-rc", *TAGS[1:], f"@{DIGEST}")


def _random_image(rng: random.Random) -> str:
    if rng.random() < 0.06:
        return rng.choice(ODD_IMAGES)
    registry = rng.choice(REGISTRIES)
    repo = rng.choice(REPOS)
    if registry == "" and "/" not in repo and rng.random() < 0.5:
        repo = "nginx"
    tag = rng.choice(TAGS)
    digest = rng.choice(("", "", f"@{DIGEST}", f"@{OTHER_DIGEST}"))
    return f"{registry}{repo}{tag}{digest}"


def _random_pattern(rng: random.Random) -> str:
    registry = rng.choice([r for r in REGISTRIES if r not in ("index.docker.io/", "Quay.IO:443/")])
    repo = rng.choice(PATTERN_REPOS)
    if registry in ("", "docker.io/") and repo.startswith("*"):
        repo = "acme/agent"
    tag = rng.choice(PATTERN_TAGS)
    if "*" in repo and "@" in tag:
        tag = ""  # a pin names one exact image: no wildcard beside it
    return f"{registry}{repo}{tag}"


def _random_selector(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(4)
    if choice == 0:
        return {"matchLabels": {"app": rng.choice("ab")}}
    if choice == 1:
        return {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["b"]}]}
    if choice == 2:
        return {"matchExpressions": [{"key": "app", "operator": "Exists"},
                                     {"key": "tier", "operator": "DoesNotExist"}]}
    return {"matchLabels": {"app": "a"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}


def _random_exceptions(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for index in range(count):
        spec: dict[str, Any] = {}
        if rng.random() < 0.5:
            spec["hostNamespaces"] = rng.sample(FLAGS, rng.randint(1, 3))
        if rng.random() < 0.4:
            spec["namespaces"] = rng.sample(NAMESPACES, rng.randint(1, 2))
        if rng.random() < 0.4:
            spec["podSelector"] = _random_selector(rng)
        images = sorted({_random_pattern(rng) for _ in range(rng.randint(1, 4))})
        out.append(exception(f"gen-{index:02d}", images, **spec))
    return out


def _random_object(rng: random.Random, index: int, trusted: list[str]) -> dict[str, Any]:
    def image() -> str:
        # Half the images are ones some pattern names literally, so that Excepted
        # verdicts are common and a wrong "no" would show.
        return rng.choice(trusted) if rng.random() < 0.5 else _random_image(rng)

    flags = {f: True for f in FLAGS if rng.random() < 0.4}
    if not flags and rng.random() < 0.8:
        flags = {rng.choice(FLAGS): True}
    images = [image() for _ in range(rng.randint(1, 3))]
    init = [image() for _ in range(rng.choice((0, 0, 1, 2)))]
    labels = {k: rng.choice("ab") for k in ("app", "tier") if rng.random() < 0.6}
    namespace = rng.choice(NAMESPACES)
    name = f"gen-{index:04d}"
    if rng.random() < 0.55:
        return pod(name, images, namespace=namespace, labels=labels, init=init, **flags)
    kind = rng.choice(sorted(WORKLOADS))
    return workload(kind, name, pod_spec(images, init, **flags), namespace=namespace,
                    labels=labels)


def _literal_images(bodies: list[dict[str, Any]]) -> list[str]:
    images = []
    for body in bodies:
        for text in body["spec"]["images"]:
            images.append(text.replace("*", "x"))
    return images


def test_admission_agrees_with_the_engine_on_1200_generated_pods_and_workloads(
    deny: Path, params: Params
) -> None:
    rng = random.Random(20261201)
    bodies = _random_exceptions(rng, 40)
    params.write(bodies)
    exceptions = ExceptionSet([compile_exception(b) for b in bodies], datetime.now(UTC))
    assert len(exceptions) == 40, "every generated exception is Active"
    trusted = _literal_images(bodies)
    objects = [_random_object(rng, i, trusted) for i in range(1200)]
    decided = decisions(deny, objects)

    verdicts = {o["metadata"]["name"]: verdict_of(o, exceptions) for o in objects}
    disagreements = []
    for obj in objects:
        name = obj["metadata"]["name"]
        verdict, message = verdicts[name], decided[name]
        if (verdict.verdict == VIOLATION) != (message is not None):
            disagreements.append((name, verdict.verdict, message, json.dumps(obj)[:600]))
            continue
        if message is not None:
            # The denial names exactly the flags and images the engine finds uncovered.
            flags, images = parse_denial(message)
            assert flags == list(verdict.uncovered_flags), (name, message)
            expected = {
                (u.image if _parses(u.image) else f"{u.image} (not a valid image reference)"):
                    list(u.uncovered)
                for u in verdict.images if u.uncovered
            }
            assert images == expected, (name, message, verdict)
    assert disagreements == []
    kinds = {v.verdict for v in verdicts.values()}
    assert kinds == {"Compliant", "Excepted", "Violation"}, "the sample exercises every verdict"
    excepted = sum(v.verdict == "Excepted" for v in verdicts.values())
    violations = sum(v.verdict == VIOLATION for v in verdicts.values())
    assert excepted >= 100 and violations >= 100, (excepted, violations)


def _parses(image: str) -> bool:
    try:
        parse_image(image)
    except ImageError:
        return False
    return True


# --- the matching rule, case by case -----------------------------------------------------

TRUSTED = "registry.k8s.io/kube-proxy:v1.31.0"
AGENT = "ghcr.io/acme/agent:2.0"
UNTRUSTED = "docker.io/library/busybox:latest"


@pytest.mark.parametrize("flag", FLAGS)
def test_every_flag_is_refused_for_an_untrusted_image_and_admitted_for_a_trusted_one(
    deny: Path, params: Params, flag: str
) -> None:
    params.write([exception("proxy", [TRUSTED], hostNamespaces=[flag])])
    other = next(f for f in FLAGS if f != flag)
    got = decisions(deny, [
        pod("trusted", [TRUSTED], **{flag: True}),
        pod("untrusted", ["busybox"], **{flag: True}),
        pod("other-flag", [TRUSTED], **{other: True}),
        pod("no-flag", ["busybox"]),
    ])
    assert got["trusted"] is None and got["no-flag"] is None
    assert got["untrusted"] is not None
    assert parse_denial(got["untrusted"]) == ([flag], {UNTRUSTED: [flag]})
    # An exception for one flag does not excuse another.
    assert got["other-flag"] is not None and f"uses {other} " in got["other-flag"]


def test_a_trusted_sidecar_does_not_vouch_for_an_untrusted_container(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    got = decisions(deny, [pod("mixed", [TRUSTED, "busybox"], hostNetwork=True, hostPID=True)])
    message = got["mixed"]
    assert message is not None
    # Only the untrusted image is named, with both flags.
    assert parse_denial(message) == (["hostNetwork", "hostPID"],
                                     {UNTRUSTED: ["hostNetwork", "hostPID"]})


def test_an_untrusted_init_container_is_refused(deny: Path, params: Params) -> None:
    params.write([exception("proxy", [TRUSTED])])
    got = decisions(deny, [
        pod("bad-init", [TRUSTED], init=["busybox"], hostIPC=True),
        pod("good-init", [TRUSTED], init=[TRUSTED], hostIPC=True),
    ])
    assert got["good-init"] is None
    assert got["bad-init"] is not None and UNTRUSTED in got["bad-init"]


def test_an_ephemeral_container_added_by_kubectl_debug_must_be_trusted_too(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED, "ghcr.io/acme/debugger:*"])])
    name = f"debug-target-{int(time.time())}"
    kubectl(deny, "create", "-f", "-", stdin=json.dumps(pod(name, [TRUSTED], hostNetwork=True)))
    try:
        # The pods/ephemeralcontainers subresource, as `kubectl debug` writes it.
        ok = run(deny, "debug", name, "--image=ghcr.io/acme/debugger:1", "-c", "dbg-ok",
                 "--attach=false", check=False)
        assert ok.returncode == 0, ok.stderr
        bad = run(deny, "debug", name, "--image=busybox", "-c", "dbg-bad", "--attach=false",
                  check=False)
        assert bad.returncode != 0
        assert "uses hostNetwork" in bad.stderr and UNTRUSTED + " (hostNetwork)" in bad.stderr
        live = kubectl_json(deny, "get", "pod", name)
        assert [c["name"] for c in live["spec"].get("ephemeralContainers", [])] == ["dbg-ok"]
    finally:
        run(deny, "delete", "pod", name, "--wait=false", check=False)


def test_namespace_and_selector_scope_an_exception(deny: Path, params: Params) -> None:
    params.write([
        exception("ops-only", [TRUSTED], namespaces=["ops"]),
        exception("agents", [AGENT], podSelector={
            "matchLabels": {"app": "agent"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}),
    ])
    got = decisions(deny, [
        pod("in-ops", [TRUSTED], namespace="ops", hostNetwork=True),
        pod("in-default", [TRUSTED], namespace="default", hostNetwork=True),
        pod("labelled", [AGENT], labels={"app": "agent"}, hostPID=True),
        pod("labelled-dev", [AGENT], labels={"app": "agent", "tier": "dev"}, hostPID=True),
        pod("unlabelled", [AGENT], hostPID=True),
    ])
    assert got["in-ops"] is None and got["labelled"] is None
    assert all(got[n] is not None for n in ("in-default", "labelled-dev", "unlabelled"))


def test_a_tag_pattern_does_not_match_a_reference_that_also_names_a_digest(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED, f"ghcr.io/acme/pinned@{DIGEST}"])])
    got = decisions(deny, [
        pod("tag", [TRUSTED], hostNetwork=True),
        pod("tag-and-digest", [f"{TRUSTED}@{OTHER_DIGEST}"], hostNetwork=True),
        pod("pinned", [f"ghcr.io/acme/pinned@{DIGEST}"], hostNetwork=True),
        pod("pinned-by-tag", ["ghcr.io/acme/pinned:1.0"], hostNetwork=True),
    ])
    assert got["tag"] is None and got["pinned"] is None
    # The runtime would pull OTHER_DIGEST: the trusted tag proves nothing about it.
    assert got["tag-and-digest"] is not None
    # The documented admission-time limit: the kubelet has not reported the digest the
    # tag resolves to, so only a digest written in the spec satisfies a pin. The engine
    # agrees on the spec alone; it trusts the pod once the kubelet reports the digest.
    assert got["pinned-by-tag"] is not None
    exceptions = ExceptionSet([compile_exception(exception("p", [f"ghcr.io/acme/pinned@{DIGEST}"]))],
                              datetime.now(UTC))
    spec = pod_spec(["ghcr.io/acme/pinned:1.0"], hostNetwork=True)
    status = {"containerStatuses": [{"name": "c0", "image": "ghcr.io/acme/pinned:1.0",
                                     "imageID": f"ghcr.io/acme/pinned@{DIGEST}"}]}
    at_admission = evaluate("default", {}, flags_of(spec), containers_of(spec, {}), exceptions)
    after_pull = evaluate("default", {}, flags_of(spec), containers_of(spec, status), exceptions)
    assert (at_admission.verdict, after_pull.verdict) == (VIOLATION, "Excepted")


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_a_workload_is_refused_at_once_naming_the_uncovered_images(
    deny: Path, params: Params, kind: str
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    bad = workload(kind, f"bad-{kind.lower()}", pod_spec([TRUSTED, "busybox"], hostNetwork=True))
    good = workload(kind, f"good-{kind.lower()}", pod_spec([TRUSTED], hostNetwork=True))
    result = run(deny, "apply", "--dry-run=server", "-f", "-", check=False,
                 stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [bad, good]}))
    assert re.search(rf"^{kind.lower()}(\.\w+)?/good-{kind.lower()} created",
                     result.stdout, re.MULTILINE), result.stderr
    assert result.returncode != 0
    assert f"hostns: {kind} default/bad-{kind.lower()} uses hostNetwork" in result.stderr
    assert f"{UNTRUSTED} (hostNetwork)" in result.stderr


# --- expiry ------------------------------------------------------------------------------

def test_an_exception_expiring_is_allowed_before_and_refused_after(
    deny: Path, params: Params
) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    body = exception("short", [TRUSTED], expiresAt=expires.isoformat().replace("+00:00", "Z"))
    written = params.write([body])
    assert [e["name"] for e in written["status"]["exceptions"]] == ["short", "zz-probe-1"]
    assert decisions(deny, [pod("before", [TRUSTED], hostNetwork=True)])["before"] is None
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    # What the operator does at the expiry (hostns.live.prevention_writer): recompile, write.
    written = params.write([body])
    assert written["status"]["omitted"] == [{"name": "short", "generation": 1,
                                             "reason": "Expired"}]
    assert decisions(deny, [pod("after", [TRUSTED], hostNetwork=True)])["after"] is not None


# --- Warn, Audit -------------------------------------------------------------------------

def test_warn_mode_admits_and_kubectl_prints_the_warning(kubeconfig: Path,
                                                           params: Params) -> None:
    install(kubeconfig, deny=False)
    try:
        params.write([exception("proxy", [TRUSTED])])
        result = run(kubeconfig, "create", "--dry-run=server", "-f", "-", check=False,
                     stdin=json.dumps(pod("warned", [TRUSTED, "busybox"], hostNetwork=True)))
        assert result.returncode == 0, result.stderr
        assert "pod/warned created (server dry run)" in result.stdout
        assert ("Warning: Validation failed for ValidatingAdmissionPolicy 'hostns-prevention' "
                "with binding 'hostns-prevention': hostns: Pod default/warned uses hostNetwork "
                f"with images no Active HostNamespaceException trusts for it: {UNTRUSTED} "
                "(hostNetwork)") in result.stderr
        quiet = run(kubeconfig, "create", "--dry-run=server", "-f", "-", check=False,
                    stdin=json.dumps(pod("quiet", [TRUSTED], hostNetwork=True)))
        assert quiet.returncode == 0 and "Warning" not in quiet.stderr
    finally:
        install(kubeconfig, deny=True)


def test_the_audit_action_annotates_the_request_in_the_audit_log(
    plane: Any, deny: Path, params: Params
) -> None:
    audit_log: Path | None = getattr(plane, "audit_log", None)
    if audit_log is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the audit-log test needs the local control plane")
        pytest.skip("HOSTNS_E2E_KUBECONFIG: the cluster's audit log is not readable here")
    params.write([exception("proxy", [TRUSTED])])
    name = f"audited-{int(time.time() * 1000)}"
    assert decisions(deny, [pod(name, ["busybox"], hostPID=True)])[name] is not None
    deadline = time.monotonic() + 10
    found: dict[str, Any] | None = None
    while found is None and time.monotonic() < deadline:
        for line in audit_log.read_text().splitlines():
            event = json.loads(line)
            if (event.get("objectRef", {}).get("name") == name
                    and event.get("stage") == "ResponseComplete"):
                found = event
        time.sleep(0.2)
    assert found is not None, "the refused request is in the audit log"
    assert found["responseStatus"]["code"] == 403
    failures = json.loads(found["annotations"]["validation.policy.admission.k8s.io/"
                                               "validation_failure"])
    assert failures == [{
        "message": f"hostns: Pod default/{name} uses hostPID with images no Active "
                   f"HostNamespaceException trusts for it: {UNTRUSTED} (hostPID)",
        "policy": "hostns-prevention", "binding": "hostns-prevention",
        "expressionIndex": 0, "validationActions": ["Deny", "Audit"],
    }]


# --- break-glass, missing parameters, updates --------------------------------------------

def test_break_glass_by_impersonating_the_group_admits_and_is_recorded(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    body = pod("glass", ["busybox"], hostNetwork=True, hostPID=True, hostIPC=True)
    plain = ("--as=alice", "--as-group=system:masters")
    assert decisions(deny, [body], args=plain)["glass"] is not None
    glass = (*plain, "--as-group=hostns.io:break-glass")
    assert decisions(deny, [body], args=glass)["glass"] is None


def test_break_glass_for_workloads_by_labelling_the_namespace(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    namespace = "glass-ns"
    run(deny, "create", "namespace", namespace, check=False)
    try:
        body = workload("DaemonSet", "node-debug", pod_spec(["busybox"], hostPID=True),
                        namespace=namespace)
        assert decisions(deny, [body])["node-debug"] is not None
        kubectl(deny, "label", "namespace", namespace, "hostns.io/prevention=exempt")
        deadline = time.monotonic() + 20
        while decisions(deny, [body])["node-debug"] is not None:
            assert time.monotonic() < deadline, "the namespace label exempts it"
            time.sleep(0.3)
    finally:
        run(deny, "delete", "namespace", namespace, "--wait=false", check=False)


def test_an_update_that_does_not_change_what_runs_is_not_judged_again(
    deny: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    name = f"legacy-{int(time.time())}"
    body = workload("Deployment", name, pod_spec(["busybox"], hostNetwork=True))
    # Admitted before Deny (break-glass stands in for "created before the policy").
    kubectl(deny, "--as=alice", "--as-group=system:masters", "--as-group=hostns.io:break-glass",
            "create", "-f", "-", stdin=json.dumps(body))
    try:
        kubectl(deny, "scale", "deployment", name, "--replicas=3")
        kubectl(deny, "label", "deployment", name, "team=ops")
        kubectl(deny, "patch", "deployment", name, "--type=merge",
                "-p", json.dumps({"spec": {"replicas": 2}}))
        changed = run(deny, "set", "image", f"deployment/{name}", "c0=busybox:1.37", check=False)
        assert changed.returncode != 0
        assert "docker.io/library/busybox:1.37 (hostNetwork)" in changed.stderr
    finally:
        run(deny, "delete", "deployment", name, "--wait=false", check=False)


def test_without_its_parameter_object_deny_fails_closed_and_warn_judges_nothing(
    kubeconfig: Path, params: Params
) -> None:
    params.write([exception("proxy", [TRUSTED])])
    params.delete()
    try:
        install(kubeconfig, deny=True)
        no_flag = pod("plain", ["busybox"])
        deadline = time.monotonic() + 20
        while True:
            result = run(kubeconfig, "create", "--dry-run=server", "-f", "-", check=False,
                         stdin=json.dumps(no_flag))
            if result.returncode != 0:
                break
            assert time.monotonic() < deadline, "Deny refuses once the object is gone"
            time.sleep(0.3)
        # Every matched write is refused, not only host-namespace ones: the API server
        # checks the parameter object before any CEL runs.
        assert "no params found for policy binding with `Deny` parameterNotFoundAction" \
            in result.stderr
        install(kubeconfig, deny=False)
        deadline = time.monotonic() + 20
        while True:
            result = run(kubeconfig, "create", "--dry-run=server", "-f", "-", check=False,
                         stdin=json.dumps(pod("host", ["busybox"], hostNetwork=True)))
            if result.returncode == 0:
                break
            assert time.monotonic() < deadline, "Warn never refuses"
            time.sleep(0.3)
        assert "Warning" not in result.stderr, "with no parameters nothing is judged"
    finally:
        params.write([exception("proxy", [TRUSTED])])
        install(kubeconfig, deny=True)


# --- the writer against the real API server ----------------------------------------------

async def test_the_writer_keeps_admission_in_step_and_withdraws_an_exception_at_its_expiry(
    deny: Path,
) -> None:
    """PreventionWriter with the operator's own client (KubeParamsClient): creates the object,
    rewrites it by itself at the expiry, and puts it back after a deletion."""
    import asyncio

    from kubernetes_asyncio import config

    from hostns.live.kube import Kube
    from hostns.live.prevention_writer import KubeParamsClient, PreventionWriter

    run(deny, "delete", "hostnamespaceadmissionparams", "hostns-prevention", "--ignore-not-found")
    api_client = await config.new_client_from_config(config_file=str(deny))
    writer = PreventionWriter(KubeParamsClient(Kube(api_client)), resync_seconds=1.0)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    writer.update([
        compile_exception(exception("short", [TRUSTED],
                                    expiresAt=expires.isoformat().replace("+00:00", "Z"))),
        compile_exception(exception("agents", [AGENT])),
    ])
    task = asyncio.create_task(writer.run())

    async def decided(name: str, image: str) -> str | None:
        got = await asyncio.to_thread(decisions, deny, [pod(name, [image], hostNetwork=True)])
        return got[name]

    async def until(what: str, check: Any, timeout: float) -> float:
        start = time.monotonic()
        while not await check():
            assert time.monotonic() - start < timeout, what
            await asyncio.sleep(0.2)
        return time.monotonic()

    try:
        async def trusted() -> bool:
            return await decided("before", TRUSTED) is None
        await until("the writer's object reaches admission", trusted, 20)
        assert datetime.now(UTC) < expires, "the sample must be judged before the expiry"

        async def refused() -> bool:
            return await decided("after", TRUSTED) is not None
        await until("the expired exception leaves admission", refused, 30)
        late = (datetime.now(UTC) - expires).total_seconds()
        assert late < 5, f"refused {late:.1f} s after the expiry"
        stored = kubectl_json(deny, "get", "hostnamespaceadmissionparams", "hostns-prevention")
        assert [e["name"] for e in stored["status"]["exceptions"]] == ["agents"]
        assert stored["status"]["omitted"] == [{"name": "short", "generation": 1,
                                                "reason": "Expired"}]

        run(deny, "delete", "hostnamespaceadmissionparams", "hostns-prevention")

        async def back() -> bool:
            result = await asyncio.to_thread(
                run, deny, "get", "hostnamespaceadmissionparams", "hostns-prevention",
                check=False)
            return bool(result.returncode == 0)
        await until("the writer puts a deleted object back", back, 15)

        async def agent_trusted() -> bool:
            return await decided("agent", AGENT) is None
        await until("admission uses the recreated object", agent_trusted, 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api_client.close()
