"""The prevention compiler, its CRD and the shipped component, without a cluster.

tests/e2e/test_prevention_e2e.py runs the policy on a real API server; here: what the
compiler writes for each pattern, which exceptions it holds, the bounds it shares
with the CRD, and what the kustomize component installs.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostns.core.exceptions import compile_exception
from hostns.core.images import ImageError, parse_image, parse_pattern
from hostns.core.prevention import (
    KIND,
    MAX_EXCEPTIONS,
    MAX_KEYS,
    MAX_PATTERNS,
    MAX_PATTERNS_PER_KEY,
    MAX_REGEX_CHARS,
    NAME,
    OMITTED_TOO_MANY,
    PLURAL,
    compile_params,
    compile_pattern,
    glob_regex,
)

from .builders import DIGEST, NOW
from .test_crds import schema, walk

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "crds" / "hostnamespaceadmissionparams.yaml").read_text())
COMPONENTS = REPO / "deploy" / "components"


def hne(name: str, images: list[str], generation: int = 1, **spec: Any) -> Any:
    return compile_exception({"metadata": {"name": name, "generation": generation},
                              "spec": {"reason": f"{name} is trusted", "images": images, **spec}})


# --- one pattern -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "entry"), [
    ("nginx", {"registry": "docker.io", "repository": "library/nginx"}),
    ("docker.io/nginx:1.27", {"registry": "docker.io", "repository": "library/nginx",
                              "tag": "1.27"}),
    ("Quay.IO:443/acme/agent", {"registry": "quay.io:443", "repository": "acme/agent"}),
    ("registry.k8s.io/kube-proxy:*", {"registry": "registry.k8s.io", "repository": "kube-proxy",
                                      "tagPrefix": "", "tagSuffix": ""}),
    ("ghcr.io/acme/agent-*:v2.*", {"registry": "ghcr.io", "repositoryPrefix": "acme/agent-",
                                   "repositorySuffix": "", "tagPrefix": "v2.", "tagSuffix": ""}),
    # Several '*': the regex too, checked only after the literal prefix and suffix.
    ("ghcr.io/acme/*/x-*-y:*-rc*", {
        "registry": "ghcr.io", "repositoryPrefix": "acme/", "repositorySuffix": "-y",
        "repositoryRegex": r"^acme/[^/]*/x-[^/]*-y$", "tagPrefix": "", "tagSuffix": "",
        "tagRegex": r"^[^/]*-rc[^/]*$"}),
    (f"registry.k8s.io/pause@{DIGEST}", {"registry": "registry.k8s.io", "repository": "pause",
                                         "digest": DIGEST}),
    (f"registry.k8s.io/pause:3.10@{DIGEST}", {"registry": "registry.k8s.io",
                                              "repository": "pause", "digest": DIGEST}),
    ("localhost:5000/tools/debug:v1", {"registry": "localhost:5000",
                                       "repository": "tools/debug", "tag": "v1"}),
])
def test_each_pattern_is_taken_apart_into_what_cel_compares(text: str,
                                                            entry: dict[str, str]) -> None:
    assert compile_pattern(parse_pattern(text)) == {"text": text, **entry}


def test_a_glob_regex_is_anchored_and_a_star_never_crosses_a_slash() -> None:
    regex = glob_regex("acme/*.io")
    assert regex == r"^acme/[^/]*\.io$"
    assert re.search(regex, "acme/x.io") and re.search(regex, "acme/.io")
    assert not re.search(regex, "acme/a/b.io") and not re.search(regex, "xacme/a.io")
    assert not re.search(regex, "acme/axio"), "'.' is literal"


REPOSITORIES = ["acme/agent", "acme/agent-debug", "acme/tools/agent", "acme/agent.v2",
                "acme/x", "acme/", "other/agent", "acme/tools/a-debug", "acme/a/t"]
REPOSITORY_GLOBS = ["acme/*", "acme/agent*", "acme/tools/*", "acme/*-debug", "acme/*.v2",
                    "acme/a*t*", "acme/*/*", "acme/*/a*"]
TAGS = ["1.0", "1.0.1", "v2-rc", "latest", "V2", "1x0", "1"]
TAG_GLOBS = ["*", "1.*", "*-rc", "1.0", "v*", "1*1", "*.*"]


def glob_matches(entry: dict[str, str], field: str, text: str) -> bool:
    """The policy's CEL for a compiled component, written in Python."""
    if field in entry:
        return entry[field] == text
    prefix, suffix = entry[f"{field}Prefix"], entry[f"{field}Suffix"]
    if len(text) < len(prefix) + len(suffix):
        return False
    if not (text.startswith(prefix) and text.endswith(suffix)):
        return False
    if f"{field}Regex" in entry:
        return re.search(entry[f"{field}Regex"], text) is not None
    return "/" not in text[len(prefix):len(text) - len(suffix)]


@pytest.mark.parametrize(("glob", "repository"),
                         list(itertools.product(REPOSITORY_GLOBS, REPOSITORIES)))
def test_a_repository_glob_matches_exactly_what_the_engine_matches(glob: str,
                                                                   repository: str) -> None:
    pattern = parse_pattern(f"ghcr.io/{glob}")
    try:
        image = parse_image(f"ghcr.io/{repository}:1")
    except ImageError:
        return  # not an image; the policy's grammar check refuses it before any glob
    assert glob_matches(compile_pattern(pattern), "repository", image.repository) == \
        pattern.matches(image, None)


@pytest.mark.parametrize(("glob", "tag"), list(itertools.product(TAG_GLOBS, TAGS)))
def test_a_tag_glob_matches_exactly_what_the_engine_matches(glob: str, tag: str) -> None:
    pattern = parse_pattern(f"ghcr.io/acme/agent:{glob}")
    image = parse_image(f"ghcr.io/acme/agent:{tag}")
    assert glob_matches(compile_pattern(pattern), "tag", tag) == pattern.matches(image, None)


# --- the object --------------------------------------------------------------------------

def test_only_active_exceptions_are_compiled_and_the_others_are_listed() -> None:
    compiled = compile_params([
        hne("b-active", ["nginx"], generation=3),
        hne("a-expired", ["nginx"], expiresAt=(NOW - timedelta(seconds=1)).isoformat()),
        hne("c-invalid", ["*evil*"]),
        hne("d-later", ["busybox"], expiresAt=(NOW + timedelta(seconds=1)).isoformat()),
    ], NOW)
    body = compiled.body
    assert (body["apiVersion"], body["kind"], body["metadata"]["name"]) == (
        "hostns.io/v1alpha1", KIND, NAME)
    assert [e["name"] for e in body["spec"]["exceptions"]] == ["b-active", "d-later"]
    assert body["status"]["exceptions"] == [{"name": "b-active", "generation": 3},
                                            {"name": "d-later", "generation": 1}]
    assert body["status"]["omitted"] == [
        {"name": "a-expired", "generation": 1, "reason": "Expired"},
        {"name": "c-invalid", "generation": 1, "reason": "Invalid"},
    ]
    assert compiled.omitted == ()


def test_scope_is_written_out_flags_always_namespaces_and_selector_when_set() -> None:
    (entry,) = compile_params([hne(
        "scoped", ["nginx"], hostNamespaces=["hostPID", "hostNetwork"], namespaces=["ops", "a"],
        podSelector={"matchLabels": {"app": "x"},
                     "matchExpressions": [{"key": "tier", "operator": "NotIn",
                                           "values": ["b", "a"]},
                                          {"key": "gone", "operator": "DoesNotExist"}]},
    )], NOW).body["spec"]["exceptions"]
    assert entry["hostNamespaces"] == ["hostNetwork", "hostPID"]
    assert entry["namespaces"] == ["a", "ops"]
    # matchLabels become In requirements: the policy evaluates one form only.
    assert entry["podSelector"] == {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["x"]},
        {"key": "tier", "operator": "NotIn", "values": ["a", "b"]},
        {"key": "gone", "operator": "DoesNotExist"},
    ]}
    (everywhere,) = compile_params([hne("all", ["nginx"])], NOW).body["spec"]["exceptions"]
    assert everywhere["hostNamespaces"] == ["hostNetwork", "hostPID", "hostIPC"]
    assert "namespaces" not in everywhere and "podSelector" not in everywhere
    (nowhere,) = compile_params([hne("none", ["nginx"], namespaces=[])],
                                NOW).body["spec"]["exceptions"]
    assert nowhere["namespaces"] == [], "an empty list applies nowhere, as in the engine"


def test_patterns_are_filed_by_registry_and_account_and_point_at_their_exception() -> None:
    spec = compile_params([
        hne("b", ["ghcr.io/acme/agent:*", "nginx", "ghcr.io/other/x"]),
        hne("a", ["ghcr.io/acme/tools/*", "docker.io/acme/agent"]),
    ], NOW).body["spec"]
    assert [e["name"] for e in spec["exceptions"]] == ["a", "b"]
    files = {key: [(p["exception"], p["text"]) for p in patterns]
             for key, patterns in spec["images"].items()}
    assert files == {
        "docker.io/acme": [(0, "docker.io/acme/agent")],
        "docker.io/library": [(1, "nginx")],
        "ghcr.io/acme": [(0, "ghcr.io/acme/tools/*"), (1, "ghcr.io/acme/agent:*")],
        "ghcr.io/other": [(1, "ghcr.io/other/x")],
    }


def test_the_same_exceptions_in_any_order_compile_to_an_equal_body() -> None:
    exceptions = [hne(f"e{i}", [f"ghcr.io/acme/a{i}:*"]) for i in range(5)]
    assert compile_params(exceptions, NOW).body == compile_params(exceptions[::-1], NOW).body


def test_what_does_not_fit_is_left_out_whole_and_named() -> None:
    big = [hne(f"e{i:03d}", [f"ghcr.io/acme{i}/a-{j}" for j in range(200)]) for i in range(6)]
    compiled = compile_params(big, NOW)
    held = compiled.body["spec"]["exceptions"]
    assert [e["name"] for e in held] == ["e000", "e001", "e002", "e003", "e004"]
    images = compiled.body["spec"]["images"]
    assert sum(len(v) for v in images.values()) == 1000 <= MAX_PATTERNS
    assert compiled.omitted == ("e005",)
    assert compiled.body["status"]["omitted"] == [
        {"name": "e005", "generation": 1, "reason": OMITTED_TOO_MANY}]
    many = compile_params([hne(f"n{i:03d}", ["nginx"]) for i in range(MAX_EXCEPTIONS + 2)], NOW)
    assert len(many.body["spec"]["exceptions"]) == MAX_EXCEPTIONS
    assert many.omitted == (f"n{MAX_EXCEPTIONS:03d}", f"n{MAX_EXCEPTIONS + 1:03d}")


def test_patterns_under_one_account_are_bounded_too() -> None:
    one_account = [hne(f"e{i}", [f"ghcr.io/acme/a{i}-{j}" for j in range(100)]) for i in range(3)]
    compiled = compile_params(one_account, NOW)
    assert len(compiled.body["spec"]["images"]["ghcr.io/acme"]) == 200 <= MAX_PATTERNS_PER_KEY
    assert compiled.omitted == ("e2",)
    accounts = [hne(f"k{i:03d}", [f"ghcr.io/acct{i}-{j}/x" for j in range(6)])
                for i in range(100)]
    compiled = compile_params(accounts, NOW)
    assert len(compiled.body["spec"]["images"]) == 510 <= MAX_KEYS
    assert compiled.omitted == tuple(f"k{i:03d}" for i in range(85, 100))


def test_regex_characters_are_bounded_too() -> None:
    star = "ghcr.io/acme/" + "a*" * 100 + ":" + "v*" * 60  # ~840 regex characters
    compiled = compile_params([hne(f"r{i:02d}", [star]) for i in range(40)], NOW)
    chars = sum(len(p.get("repositoryRegex", "")) + len(p.get("tagRegex", ""))
                for ps in compiled.body["spec"]["images"].values() for p in ps)
    assert chars <= MAX_REGEX_CHARS < chars + 840 * 2
    assert compiled.omitted


# --- the CRD -----------------------------------------------------------------------------

def test_the_crd_names_one_cluster_scoped_kind_in_the_hostns_category() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == f"{PLURAL}.hostns.io"
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == ("hostns.io", "Cluster", KIND)
    assert spec["names"]["categories"] == ["hostns"]
    (version,) = spec["versions"]
    # No status subresource: spec and status are written in one write, by the operator only.
    assert "subresources" not in version


def test_the_crd_bounds_are_the_compilers() -> None:
    assert schema(CRD, "spec", "exceptions")["maxItems"] == MAX_EXCEPTIONS
    images = schema(CRD, "spec", "images")
    assert images["maxProperties"] == MAX_KEYS
    assert images["additionalProperties"]["maxItems"] == MAX_PATTERNS_PER_KEY
    rules = " ".join(r["rule"] for r in schema(CRD, "spec")["x-kubernetes-validations"])
    assert f"<= {MAX_PATTERNS}" in rules and f"<= {MAX_REGEX_CHARS}" in rules


def test_every_field_of_the_crd_explains_itself_and_the_schema_is_structural() -> None:
    for where, node in walk(schema(CRD)):
        if where == ".metadata":
            continue
        assert str(node.get("description", "")).strip(), where
        assert "type" in node, where
    for where, node in walk(schema(CRD, "spec"), ".spec"):
        if node["type"] == "string":
            assert "maxLength" in node or "enum" in node, f"{where}: CEL cost needs a bound"
        if node["type"] == "array":
            assert "maxItems" in node, f"{where}: CEL cost needs a bound"


def test_the_crds_kustomization_installs_the_parameter_kind() -> None:
    listed = yaml.safe_load((REPO / "crds" / "kustomization.yaml").read_text())["resources"]
    assert "hostnamespaceadmissionparams.yaml" in listed


# --- the component -----------------------------------------------------------------------

def render(*components: str) -> list[dict[str, Any]]:
    """The components on top of deploy/base, as an overlay would use them."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        import os

        (root / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [os.path.relpath(REPO / "deploy" / "base", root)],
            "components": [os.path.relpath(COMPONENTS / c, root) for c in components],
        }))
        out = subprocess.run(["kubectl", "kustomize", str(root)], capture_output=True,
                             text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_prevention_is_a_native_policy_no_webhook_and_warns_and_audits_by_default() -> None:
    objects = render("prevention")
    kinds = {o["kind"] for o in objects}
    assert not {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} & kinds
    (policy,) = by_kind(objects, "ValidatingAdmissionPolicy")
    (binding,) = by_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["paramKind"] == {"apiVersion": "hostns.io/v1alpha1", "kind": KIND}
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    # Warn must never refuse: a missing object with Deny would refuse every write.
    assert binding["spec"]["paramRef"] == {"name": NAME, "parameterNotFoundAction": "Allow"}
    (deployment,) = by_kind(objects, "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HOSTNS_PREVENTION", "value": "true"} in env


def test_the_deny_variant_refuses_and_fails_closed() -> None:
    (binding,) = by_kind(render("prevention-deny"),
                         "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == ["Deny", "Audit"]
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"


def test_the_policy_judges_pods_their_ephemeral_containers_and_every_pod_bearing_workload(
) -> None:
    (policy,) = by_kind(render("prevention"), "ValidatingAdmissionPolicy")
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    judged = {(group, resource) for rule in rules for group in rule["apiGroups"]
              for resource in rule["resources"]}
    assert judged == {
        ("", "pods"), ("", "pods/ephemeralcontainers"), ("", "replicationcontrollers"),
        ("", "podtemplates"), ("apps", "deployments"), ("apps", "daemonsets"),
        ("apps", "statefulsets"), ("apps", "replicasets"), ("batch", "jobs"),
        ("batch", "cronjobs"),
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)


def test_the_operator_may_write_only_its_one_parameter_object() -> None:
    objects = render("prevention")
    role = next(o for o in by_kind(objects, "ClusterRole")
                if o["metadata"]["name"] == "hostns-operator-prevention")
    assert role["rules"] == [
        {"apiGroups": ["hostns.io"], "resources": [PLURAL], "verbs": ["create"]},
        {"apiGroups": ["hostns.io"], "resources": [PLURAL], "resourceNames": [NAME],
         "verbs": ["get", "update"]},
    ]
