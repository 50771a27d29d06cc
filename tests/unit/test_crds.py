"""The CRDs as files: shape, documentation, and the image-pattern rules run without a cluster.

The image-pattern CEL rules are written as RE2 regexes (`[!]self.matches(r'...')`
clauses joined by `||`), so this file evaluates them with Python's `re` and checks
them against the spec's table and against the operator's own parser,
`hostns.core.images.parse_pattern`: admission and the operator must agree on what a
pattern is. The e2e suite runs the same rules on a real API server.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hostns.core.actors import ACTOR_LIMIT
from hostns.core.images import ImageError, parse_pattern

CRDS = Path(__file__).resolve().parents[2] / "crds"
HEX = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX
FLAGS = ["hostNetwork", "hostPID", "hostIPC"]


def load(name: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all((CRDS / name).read_text()))
    assert len(documents) == 1, f"{name} holds one document"
    crd: dict[str, Any] = documents[0]
    return crd


EXCEPTIONS = load("hostnamespaceexceptions.yaml")
FINDINGS = load("hostnamespacefindings.yaml")


def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    result: dict[str, Any] = only
    return result


def schema(crd: dict[str, Any], *path: str) -> dict[str, Any]:
    """The schema node at a path of property names ('[]' steps into array items)."""
    node: dict[str, Any] = version(crd)["schema"]["openAPIV3Schema"]
    for step in path:
        node = node["items"] if step == "[]" else node["properties"][step]
    return node


def walk(node: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node: properties, array items and map values, at every depth."""
    yield where or "<root>", node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{where}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{where}{{}}")


# --- RE2 rules, run with Python's re --------------------------------------------------

def re2(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 regex of the subset the CRDs use, with RE2's meaning, in Python.

    Two differences matter: RE2's `$` matches only at the end of the text (Python's
    also before a final newline), and RE2's `\\s` is ASCII whitespace only. Anything
    else with a backslash must be an escaped punctuation character.
    """
    out, in_class, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            escaped = pattern[i + 1]
            if escaped == "s":
                out.append(r"[\t\n\f\r ]" if not in_class else r"\t\n\f\r ")
            else:
                assert not escaped.isalnum(), f"unsupported escape \\{escaped} in {pattern}"
                out.append(ch + escaped)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1] == "]":  # a literal ']' first in a class
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        elif ch == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(ch)
        i += 1
    return re.compile("".join(out))


_CLAUSE = re.compile(
    r"(?P<neg>!?)self\.matches\(r'(?P<re>[^']*)'\)|size\(self\) (?P<op>>|==) 0"
)


def _matches(regex: re.Pattern[str], negated: bool) -> Callable[[str], bool]:
    return lambda s: (regex.search(s) is not None) != negated


def compile_rule(rule: str) -> Callable[[str], bool]:
    """A CEL rule over a string `self`, in the restricted form the image rules use."""
    clauses: list[Callable[[str], bool]] = []
    position = 0
    while True:
        found = _CLAUSE.match(rule, position)
        assert found, f"rule outside the form this test can run: {rule[position:]!r}"
        if found["op"] == ">":
            clauses.append(lambda s: len(s) > 0)
        elif found["op"] == "==":
            clauses.append(lambda s: len(s) == 0)
        else:
            clauses.append(_matches(re2(found["re"]), negated=bool(found["neg"])))
        position = found.end()
        if position == len(rule):
            break
        assert rule.startswith(" || ", position), f"expected ' || ' in {rule!r}"
        position += 4
    return lambda s: any(clause(s) for clause in clauses)


IMAGE_ITEM = schema(EXCEPTIONS, "spec", "images", "[]")
IMAGE_RULES = [
    (compile_rule(v["rule"]), v["message"]) for v in IMAGE_ITEM["x-kubernetes-validations"]
]


def admission_errors(image: str) -> list[str]:
    """The messages the API server would give for this pattern (schema and CEL)."""
    errors = [message for check, message in IMAGE_RULES if not check(image)]
    if len(image) > IMAGE_ITEM["maxLength"]:
        errors.append("too long")
    return errors


def operator_accepts(image: str) -> bool:
    try:
        parse_pattern(image)
    except ImageError:
        return False
    return True


ACCEPTED = [
    "nginx",
    "nginx:1.25",
    "docker.io/library/nginx:*",
    "registry.k8s.io/kube-proxy:*",
    "registry.k8s.io/kube-proxy",
    "localhost:5000/tools/debug:v1",
    "ghcr.io/acme/*",
    "ghcr.io/acme/agent-*:v2.*",
    f"quay.io/cilium/cilium:v1.16.0@{DIGEST}",
    f"registry.k8s.io/pause@{DIGEST}",
    "docker.io/elastic/elastic-agent:8.15.0",
    # and around the edges of the grammar
    "localhost/debug",
    "Registry.Example.COM:443/team/app:V1",  # hosts and tags are case-insensitive / free
    "registry.example.com:123456/x",  # the grammar bounds no port
    "[::1]:5000/tools/debug",
    "[fe80::1]/team/app:v1",
    "x.io/" + "a" * 255,  # the longest repository path
    "a" * 247,  # docker.io/library/ + 247 = 255
    "acme/" + "a" * 250,
    "my-registry:5000/app",
    "library/nginx:*",
    "acme/agent_x__y.z--w:*",
    "nginx:" + "a" * 128,
]

REJECTED = [
    ("*elastic-agent*", "'*' is not allowed in the registry host or the first path component"),
    ("*/nginx", "'*' is not allowed in the registry host or the first path component"),
    ("reg*.example.com/x", "'*' is not allowed in the registry host or the first path component"),
    ("elastic-agent*", "'*' is not allowed in the registry host or the first path component"),
    ("elastic*/agent:1", "'*' is not allowed in the registry host or the first path component"),
    ("registry.example.com:5*/x", "'*' is not allowed in a registry port"),
    ("localhost:*/x", "'*' is not allowed in a registry port"),
    ("nginx@sha256:abc", "a digest must be sha256: followed by exactly 64 lowercase hex"),
    ("nginx@md5:" + HEX, "a digest must be sha256: followed by exactly 64 lowercase hex"),
    ("nginx@sha256:" + HEX.upper(), "a digest must be sha256: followed by exactly 64 lowercase"),
    ("nginx@", "a digest must be sha256: followed by exactly 64 lowercase hex"),
    (f"registry.k8s.io/team/*@{DIGEST}", "'*' is not allowed together with @sha256"),
    ("ghcr.io/*/agent", "'*' is not allowed in the first path component after the registry host"),
    ("docker.io/*/nginx:1", "'*' is not allowed in the first path component after the registry host"),
    ("localhost:5000/tools*", "'*' is not allowed in the first path component after the registry host"),
    (f"registry.k8s.io/pause:*@{DIGEST}", "'*' is not allowed together with @sha256"),
    ("docker.io/library/Nginx", "the repository path must be lowercase"),
    ("Nginx:1.25", "the repository path must be lowercase"),
    ("ACME/agent", "the repository path must be lowercase"),
    ("", "an image pattern must not be empty"),
    ("ng inx", "an image pattern must not contain whitespace"),
    (" nginx", "an image pattern must not contain whitespace"),
    ("nginx\n", "an image pattern must not contain whitespace"),
    ("nginx:", "not a valid image pattern"),
    ("nginx:.hidden", "not a valid image pattern"),
    ("nginx:" + "a" * 129, "not a valid image pattern"),
    ("a//b", "not a valid image pattern"),
    ("-bad.example.com/x", "not a valid image pattern"),
    ("bad_host.example.com/x", "not a valid image pattern"),
    ("[abc]/x", "not a valid image pattern"),  # no ':' or '.': not a host, not a path
    ("registry.k8s.\u0456o/kube-proxy", "an image pattern must be printable ASCII"),  # Cyrillic i
    ("\u212a8s.io/x", "an image pattern must be printable ASCII"),  # the Kelvin sign
    ("\uff4eginx", "an image pattern must be printable ASCII"),  # fullwidth n
    ("nginx\x00", "an image pattern must be printable ASCII"),
    (HEX, "64 hex characters are an image ID"),
    ("registry.k8s.io:*", "a registry host needs a repository"),
    ("registry.k8s.io", "a registry host needs a repository"),
    ("localhost:5000", "a registry host needs a repository"),
    ("localhost", "a registry host needs a repository"),
    ("quay.io:v1.2@" + DIGEST, "a registry host needs a repository"),
    ("a" * 248, "the repository path must be at most 255 characters"),
    ("docker.io/" + "a" * 248 + ":v1", "the repository path must be at most 255 characters"),
    ("x.io/" + "a" * 256, "the repository path must be at most 255 characters"),
    ("acme/" + "a" * 251, "the repository path must be at most 255 characters"),
    ("ghcr.io/acme/x:tag/with/slash", "not a valid image pattern"),
]


@pytest.mark.parametrize("image", ACCEPTED)
def test_a_well_formed_pattern_passes_every_rule(image: str) -> None:
    assert admission_errors(image) == []


@pytest.mark.parametrize(("image", "message"), REJECTED)
def test_a_bad_pattern_is_rejected_with_the_message_that_names_the_mistake(
    image: str, message: str
) -> None:
    errors = admission_errors(image)
    assert any(message in error for error in errors), errors


@pytest.mark.parametrize(("image", "message"), REJECTED)
def test_the_grammar_rule_stays_quiet_when_a_specific_rule_names_the_mistake(
    image: str, message: str
) -> None:
    errors = admission_errors(image)
    if "not a valid image pattern" not in message:
        assert len(errors) == 1, errors


@pytest.mark.parametrize("image", ACCEPTED + [image for image, _ in REJECTED])
def test_admission_and_the_operator_parser_agree_on_the_table(image: str) -> None:
    assert (admission_errors(image) == []) == operator_accepts(image)


def _random_patterns(count: int) -> Iterator[str]:
    pieces = [
        *"abz09.-_/:@*A Z", "__", "--", "sha256:", HEX, "localhost", "docker.io",
        "registry.k8s.io", ":5000", "library/", "\t", "Ab",
    ]
    rng = random.Random(20251122)
    for _ in range(count):
        yield "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))


def _near_miss_patterns(count: int) -> Iterator[str]:
    """Well-formed patterns built from parts, then most of them damaged by one edit."""
    hosts = ["", "", "ghcr.io/", "localhost/", "localhost:5000/", "reg-1.example.com:443/",
             "Reg.IO/", "my-registry:5000/", "a.b/", "x_y.io/", "-a.io/", "a:99999/", "a:5*/"]
    parts = ["nginx", "acme", "agent-*", "a__b", "a.b", "a--b", "*", "x*y", "Ab", "a_", ".a", ""]
    tags = ["", ":v1", ":*", ":v2.*", ":1.25-alpine", ":_x", ":.x", ":-x", ":", ":A" * 70]
    digests = ["", "", "@" + DIGEST, "@sha256:abc", "@" + DIGEST.upper(), "@"]
    alphabet = "abAZ09.-_/:@* "
    rng = random.Random(4711)
    for _ in range(count):
        path = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 3)))
        text = rng.choice(hosts) + path + rng.choice(tags) + rng.choice(digests)
        if text and rng.random() < 0.7:
            at = rng.randrange(len(text))
            edit = rng.choice(["insert", "delete", "replace"])
            char = rng.choice(alphabet)
            if edit == "insert":
                text = text[:at] + char + text[at:]
            elif edit == "delete":
                text = text[:at] + text[at + 1:]
            else:
                text = text[:at] + char + text[at + 1:]
        yield text


@pytest.mark.parametrize("generate", [_random_patterns, _near_miss_patterns])
def test_admission_and_the_operator_parser_agree_on_thousands_of_odd_patterns(
    generate: Callable[[int], Iterator[str]],
) -> None:
    images = list(generate(20000))
    accepted = [image for image in images if not admission_errors(image)]
    assert len(accepted) > 500  # the generator reaches both sides
    disagreements = [
        (image, admission_errors(image), operator_accepts(image))
        for image in images
        if (admission_errors(image) == []) != operator_accepts(image)
    ]
    assert disagreements == []


_PATTERN_HOSTS = ["", "", "docker.io/", "ghcr.io/", "localhost/", "localhost:5000/", "[::1]:5000/",
                  "Reg.IO:443/", "a_b.io/", "Ab/", "x.io:/", "registry.k8s.io"]
_generated_patterns = st.one_of(
    st.text(alphabet="abz09.-_/:@*A[] \u0435", max_size=24),
    st.builds(
        lambda host, parts, tag, digest: host + "/".join(parts) + tag + digest,
        st.sampled_from(_PATTERN_HOSTS),
        st.lists(st.text(alphabet="az09._-*A", max_size=10), min_size=1, max_size=3),
        st.sampled_from(["", ":v1", ":*", ":v2.*", ":", ":-x", ":" + "t" * 129]),
        st.sampled_from(["", "", "@" + DIGEST, "@sha256:abc", "@"]),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(image=_generated_patterns)
def test_admission_and_the_operator_parser_agree_on_generated_patterns(image: str) -> None:
    assert (admission_errors(image) == []) == operator_accepts(image), admission_errors(image)


def test_the_image_rules_are_all_runnable_here() -> None:
    # compile_rule asserts on any rule it cannot run: a new rule must keep the form.
    assert len(IMAGE_RULES) == len(IMAGE_ITEM["x-kubernetes-validations"]) >= 7


# --- other regexes of the exception schema -------------------------------------------

@pytest.mark.parametrize(("name", "ok"), [
    ("kube-system", True), ("a", True), ("a" * 63, True), ("Kube-System", False),
    ("-a", False), ("a-", False), ("a.b", False), ("", False),
])
def test_namespaces_are_dns_labels(name: str, ok: bool) -> None:
    items = schema(EXCEPTIONS, "spec", "namespaces", "[]")
    valid = re2(items["pattern"]).search(name) is not None and len(name) <= items["maxLength"]
    assert valid == ok


@pytest.mark.parametrize(("key", "ok"), [
    ("app", True), ("app.kubernetes.io/name", True), ("A_b.c-D", True), ("example.com/x", True),
    ("a b", False), ("/app", False), ("Example.com/app", False), ("app/", False), ("-app", False),
])
def test_selector_keys_are_label_keys(key: str, ok: bool) -> None:
    expression_key = schema(EXCEPTIONS, "spec", "podSelector", "matchExpressions", "[]", "key")
    assert (re2(expression_key["pattern"]).search(key) is not None) == ok
    (rule,) = schema(EXCEPTIONS, "spec", "podSelector", "matchLabels")["x-kubernetes-validations"]
    inner = re.fullmatch(r"self\.all\(k, size\(k\) <= 317 && k\.matches\(r'([^']*)'\)\)", rule["rule"])
    assert inner, rule["rule"]
    assert (re2(inner[1]).search(key) is not None) == ok


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("v1", True), ("a.b_c-d", True), ("-a", False), ("a b", False),
])
def test_selector_values_are_label_values(value: str, ok: bool) -> None:
    for node in (
        schema(EXCEPTIONS, "spec", "podSelector", "matchLabels")["additionalProperties"],
        schema(EXCEPTIONS, "spec", "podSelector", "matchExpressions", "[]", "values", "[]"),
    ):
        assert (re2(node["pattern"]).search(value) is not None) == ok


def test_selector_operators_need_values_exactly_when_they_compare() -> None:
    requirement = schema(EXCEPTIONS, "spec", "podSelector", "matchExpressions", "[]")
    assert requirement["required"] == ["key", "operator"]
    assert requirement["properties"]["operator"]["enum"] == ["In", "NotIn", "Exists", "DoesNotExist"]
    messages = [v["message"] for v in requirement["x-kubernetes-validations"]]
    assert messages == ["In and NotIn need values", "Exists and DoesNotExist take no values"]
    assert schema(EXCEPTIONS, "spec", "podSelector")["x-kubernetes-map-type"] == "atomic"


# --- shape of the API ----------------------------------------------------------------

@pytest.mark.parametrize(("crd", "scope", "plural", "kind", "short"), [
    (EXCEPTIONS, "Cluster", "hostnamespaceexceptions", "HostNamespaceException", "hne"),
    (FINDINGS, "Namespaced", "hostnamespacefindings", "HostNamespaceFinding", "hnf"),
])
def test_names_scope_and_category(
    crd: dict[str, Any], scope: str, plural: str, kind: str, short: str
) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.hostns.io"
    spec = crd["spec"]
    assert spec["group"] == "hostns.io"
    assert spec["scope"] == scope
    assert spec["names"] == {
        "plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List",
        "shortNames": [short], "categories": ["hostns"],
    }
    only = version(crd)
    assert (only["name"], only["served"], only["storage"]) == ("v1alpha1", True, True)
    assert only["subresources"] == {"status": {}}


@pytest.mark.parametrize("crd", [EXCEPTIONS, FINDINGS], ids=["hne", "hnf"])
def test_every_field_at_every_depth_explains_itself(crd: dict[str, Any]) -> None:
    undocumented = [
        where for where, node in walk(schema(crd))
        # The API server forbids describing metadata: it is the standard ObjectMeta.
        if where != ".metadata" and not str(node.get("description", "")).strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("crd", [EXCEPTIONS, FINDINGS], ids=["hne", "hnf"])
def test_the_schema_is_structural(crd: dict[str, Any]) -> None:
    for where, node in walk(schema(crd)):
        assert "type" in node, f"{where} has no type"
        if node["type"] == "array":
            assert "items" in node, where
        if node["type"] == "object" and where != ".metadata":
            assert "properties" in node or "additionalProperties" in node, where
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{where}: every CEL rule says what is wrong"


@pytest.mark.parametrize("crd", [EXCEPTIONS, FINDINGS], ids=["hne", "hnf"])
def test_spec_strings_and_lists_are_bounded_for_the_cel_cost_budget(crd: dict[str, Any]) -> None:
    unbounded = [
        where for where, node in walk(schema(crd, "spec"), ".spec")
        if (node["type"] == "string" and "maxLength" not in node and "enum" not in node
            and node.get("format") != "date-time")
        or (node["type"] == "array" and "maxItems" not in node)
        or (node["type"] == "object" and "additionalProperties" in node
            and "maxProperties" not in node)
    ]
    assert unbounded == []


def test_an_exception_requires_a_reason_and_images() -> None:
    spec = schema(EXCEPTIONS, "spec")
    assert spec["required"] == ["reason", "images"]
    reason = spec["properties"]["reason"]
    assert reason["maxLength"] == 1024
    assert [v["rule"] for v in reason["x-kubernetes-validations"]] == ["self.trim() != ''"]
    images = spec["properties"]["images"]
    assert (images["minItems"], images["maxItems"], images["x-kubernetes-list-type"]) == (1, 256, "set")
    assert images["items"]["maxLength"] == 512


def test_host_namespaces_default_to_all_three_in_the_operator_not_the_schema() -> None:
    flags = schema(EXCEPTIONS, "spec", "hostNamespaces")
    assert "default" not in flags  # GitOps diffs prefer no server-side default
    assert "Absent means all three" in flags["description"]
    assert (flags["minItems"], flags["maxItems"], flags["x-kubernetes-list-type"]) == (1, 3, "set")
    assert flags["items"]["enum"] == FLAGS


def test_scoping_fields_of_an_exception() -> None:
    namespaces = schema(EXCEPTIONS, "spec", "namespaces")
    assert (namespaces["maxItems"], namespaces["x-kubernetes-list-type"]) == (256, "set")
    assert namespaces["items"]["maxLength"] == 63
    assert schema(EXCEPTIONS, "spec", "expiresAt")["format"] == "date-time"


def test_exception_status_fields() -> None:
    status = schema(EXCEPTIONS, "status")["properties"]
    assert set(status) == {"observedGeneration", "coveredWorkloads", "conditions"}
    assert status["observedGeneration"]["format"] == "int64"
    assert status["coveredWorkloads"]["format"] == "int32"


@pytest.mark.parametrize("crd", [EXCEPTIONS, FINDINGS], ids=["hne", "hnf"])
def test_conditions_are_standard_conditions_keyed_by_type(crd: dict[str, Any]) -> None:
    conditions = schema(crd, "status", "conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    fields = conditions["items"]["properties"]
    assert set(fields) == {
        "type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"
    }
    assert fields["status"]["enum"] == ["True", "False", "Unknown"]
    assert fields["lastTransitionTime"]["format"] == "date-time"
    for reason in ("Active", "Expired", "Invalid", "UncoveredHostNamespaces", "AllExcepted"):
        assert re2(fields["reason"]["pattern"]).search(reason)


def test_finding_workload_is_required_and_immutable() -> None:
    workload = schema(FINDINGS, "spec", "workload")
    assert workload["required"] == ["apiVersion", "kind", "name"]
    assert workload["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "the workload identity of a finding never changes"}
    ]


def test_finding_status_fields() -> None:
    status = schema(FINDINGS, "status")["properties"]
    assert set(status) == {
        "verdict", "summary", "severity", "riskScore", "hostNamespaces", "pods", "images",
        "exceptions", "actors", "firstSeen", "lastTransitionTime", "resolvedAt", "conditions",
    }
    assert status["verdict"]["enum"] == ["Violation", "Excepted", "Resolved"]
    assert status["severity"]["enum"] == ["low", "medium", "high", "critical"]
    assert (status["riskScore"]["minimum"], status["riskScore"]["maximum"]) == (0, 100)
    flags = status["hostNamespaces"]
    assert (flags["x-kubernetes-list-type"], flags["x-kubernetes-list-map-keys"]) == ("map", ["name"])
    assert set(flags["items"]["properties"]) == {
        "name", "excepted", "rule", "severity", "riskScore", "tactics", "techniques"
    }
    assert set(status["pods"]["properties"]) == {"count", "names"}
    assert status["pods"]["properties"]["names"]["maxItems"] == 50
    assert set(status["images"]["items"]["properties"]) == {"image", "hostNamespaces", "uncovered"}
    assert set(status["exceptions"]["items"]["properties"]) == {"name", "reason"}
    actors = status["actors"]
    assert actors["maxItems"] == ACTOR_LIMIT  # what the operator keeps, never more
    assert set(actors["items"]["properties"]) == {
        "username", "groups", "impersonatedUser", "sourceIPs", "userAgent", "verb", "resource",
        "subresource", "name", "time", "auditID",
    }
    for stamp in ("firstSeen", "lastTransitionTime", "resolvedAt"):
        assert status[stamp]["format"] == "date-time"
    assert status["resolvedAt"]["nullable"] is True  # the operator clears it with null


def _columns(crd: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["name"], c["type"], c["jsonPath"]) for c in version(crd)["additionalPrinterColumns"]]


def test_exception_printer_columns() -> None:
    assert _columns(EXCEPTIONS) == [
        ("Active", "string", '.status.conditions[?(@.type=="Active")].status'),
        ("State", "string", '.status.conditions[?(@.type=="Active")].reason'),
        ("Covered", "integer", ".status.coveredWorkloads"),
        ("Expires", "string", ".spec.expiresAt"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_finding_printer_columns() -> None:
    assert _columns(FINDINGS) == [
        ("Kind", "string", ".spec.workload.kind"),
        ("Workload", "string", ".spec.workload.name"),
        ("Host-Namespaces", "string", ".status.summary"),
        ("Verdict", "string", ".status.verdict"),
        ("Severity", "string", ".status.severity"),
        ("Pods", "integer", ".status.pods.count"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_the_kustomization_lists_every_crd() -> None:
    kustomization = yaml.safe_load((CRDS / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [
        "hostnamespaceadmissionparams.yaml", "hostnamespaceexceptions.yaml",
        "hostnamespacefindings.yaml",
    ]
