"""The matching rule, table by table: images, patterns, exceptions, evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostns.evaluation import COMPLIANT, EXCEPTED, VIOLATION, evaluate, evaluate_pod
from hostns.exceptions import (
    ACTIVE,
    EXPIRED,
    INVALID,
    ExceptionSet,
    compile_exception,
    next_expiry,
)
from hostns.images import ImageError, digest_from_image_id, parse_image, parse_pattern
from hostns.pods import Container, flag_set, pod_facts

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
ALL = frozenset({"hostNetwork", "hostPID", "hostIPC"})


def exception(name: str = "trusted", images: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {"reason": f"{name} reason", "images": images or ["nginx"], **spec},
    }


def exceptions(*bodies: dict[str, Any], now: datetime = NOW) -> ExceptionSet:
    return ExceptionSet([compile_exception(b) for b in bodies], now)


def container(image: str, digest: str | None = None, kind: str = "containers") -> Container:
    return Container("c", kind, image, digest)


def verdict(
    images: list[str] | tuple[Container, ...], exc: ExceptionSet, flags: frozenset[str] = ALL,
    namespace: str = "default", labels: dict[str, str] | None = None,
) -> Any:
    containers = tuple(container(i) if isinstance(i, str) else i for i in images)
    return evaluate(namespace, labels or {}, flags, containers, exc)


# --- image references -----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "nginx", "docker.io/nginx", "docker.io/library/nginx:latest", "index.docker.io/library/nginx",
    "registry-1.docker.io/library/nginx:latest", "library/nginx",
])
def test_docker_hub_spellings_of_nginx_are_one_image(text: str) -> None:
    ref = parse_image(text)
    assert (ref.registry, ref.repository, ref.tag) == ("docker.io", "library/nginx", "latest")


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("localhost:5000/x", "localhost:5000", "x", "latest", None),
    ("registry.example.com:5000/team/app:1", "registry.example.com:5000", "team/app", "1", None),
    ("localhost/app:dev", "localhost", "app", "dev", None),
    ("REGISTRY.Example.com/team/app", "registry.example.com", "team/app", "latest", None),
    (f"ghcr.io/acme/tool@{DIGEST}", "ghcr.io", "acme/tool", None, DIGEST),
    (f"ghcr.io/acme/tool:1.2@{DIGEST}", "ghcr.io", "acme/tool", "1.2", DIGEST),
    ("acme/tool:v1", "docker.io", "acme/tool", "v1", None),
])
def test_image_references_normalise_like_container_runtimes(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_image(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize("text", [
    "", " nginx", "Nginx", "docker.io/Library/nginx", "nginx:bad/tag", "nginx@sha256:abc",
    "nginx@", "nginx@md5:" + "a" * 64, "ngi nx", "re*g.io/x", "nginx:",
])
def test_unparseable_images_raise(text: str) -> None:
    with pytest.raises(ImageError):
        parse_image(text)


@pytest.mark.parametrize(("image_id", "digest"), [
    (f"docker.io/library/nginx@{DIGEST}", DIGEST),
    (f"docker-pullable://nginx@{DIGEST}", DIGEST),
    (DIGEST, None),  # a bare sha256 is the image *config* ID, not the manifest digest
    ("", None),
    ("docker.io/library/nginx@sha256:short", None),
])
def test_digests_come_only_from_repository_digests_in_image_ids(image_id: str, digest: str | None) -> None:
    assert digest_from_image_id(image_id) == digest


# --- patterns --------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "image", "matches"), [
    ("nginx", "nginx:1.25", True),                                    # no tag: any tag
    ("nginx", "docker.io/library/nginx", True),
    ("nginx:1.25", "nginx:1.25", True),                               # tag: that tag only
    ("nginx:1.25", "nginx:1.26", False),
    ("nginx:1.25", "nginx", False),                                   # nginx means :latest
    ("registry.k8s.io/kube-proxy:*", "registry.k8s.io/kube-proxy:v1.34.4", True),
    ("registry.k8s.io/kube-proxy:*", "evil.example/registry.k8s.io/kube-proxy:v1", False),
    ("registry.k8s.io/kube-proxy", "registry.k8s.io/kube-proxy-evil:v1", False),
    ("ghcr.io/acme/*", "ghcr.io/acme/agent:1", True),
    ("ghcr.io/acme/*", "ghcr.io/acme/team/agent:1", False),           # * never crosses /
    ("ghcr.io/acme/agent-*:v2.*", "ghcr.io/acme/agent-linux:v2.3", True),
    ("ghcr.io/acme/agent-*:v2.*", "ghcr.io/acme/agent-linux:v3.0", False),
    ("localhost:5000/tools/debug:v1", "localhost:5000/tools/debug:v1", True),
    ("localhost:5000/tools/debug:v1", "localhost:5001/tools/debug:v1", False),
    ("docker.io/elastic/elastic-agent:8.15.0", "elastic/elastic-agent:8.15.0", True),
    ("docker.io/elastic/elastic-agent:8.15.0", "evil.io/elastic/elastic-agent:8.15.0", False),
    ("nginx:1.25", f"nginx@{DIGEST}", False),  # a tag pattern cannot vouch for a digest-only image
])
def test_patterns_match_registry_repository_and_tag(pattern: str, image: str, matches: bool) -> None:
    assert parse_pattern(pattern).matches(parse_image(image), None) is matches


@pytest.mark.parametrize("pattern", [
    "*elastic-agent*", "*/nginx", "reg*.io/x", "elastic-agent*", "registry.example.com:5*/x",
    f"registry.k8s.io/*@{DIGEST}", "nginx@sha256:abc", "nginx@sha256:" + "A" * 64,
    "docker.io/library/Nginx", "", "nginx :1",
])
def test_dangerous_or_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ImageError):
        parse_pattern(pattern)


@pytest.mark.parametrize(("image", "reported_digest", "matches"), [
    (f"ghcr.io/acme/tool@{DIGEST}", None, True),          # pinned in the spec
    (f"ghcr.io/acme/tool:1@{DIGEST}", None, True),
    (f"ghcr.io/acme/tool@{OTHER_DIGEST}", None, False),
    ("ghcr.io/acme/tool:1", DIGEST, True),                # tag + kubelet-reported digest
    ("ghcr.io/acme/tool:1", OTHER_DIGEST, False),
    ("ghcr.io/acme/tool:1", None, False),                 # digest not known yet: fail closed
    ("ghcr.io/other/tool:1", DIGEST, False),              # right digest, wrong repository
])
def test_a_digest_pin_matches_only_that_digest(image: str, reported_digest: str | None, matches: bool) -> None:
    pin = parse_pattern(f"ghcr.io/acme/tool@{DIGEST}")
    ref = parse_image(image)
    assert pin.matches(ref, ref.digest or reported_digest) is matches


# --- exceptions ------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "error"), [
    ({"images": ["*elastic-agent*"]}, "'*' is not allowed"),
    ({"images": []}, "at least one"),
    ({"images": "nginx"}, "list of strings"),
    ({"hostNamespaces": ["hostUTS"]}, "unknown host namespace"),
    ({"hostNamespaces": []}, "must not be empty"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}, "unknown operator"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}, "needs values"),
    ({"expiresAt": "tomorrow"}, "Invalid isoformat"),
    ({"expiresAt": "2026-12-01T00:00:00"}, "no time zone"),
    ({"reason": "  "}, "reason"),
])
def test_an_unusable_exception_is_invalid_and_trusts_nothing(spec: dict[str, Any], error: str) -> None:
    body = exception(images=["nginx"])
    body["spec"].update(spec)
    compiled = compile_exception(body)
    assert compiled.state(NOW) == INVALID
    assert compiled.error is not None and error in compiled.error
    assert len(ExceptionSet([compiled], NOW)) == 0
    assert verdict(["nginx"], ExceptionSet([compiled], NOW)).verdict == VIOLATION


def test_a_missing_spec_is_invalid() -> None:
    assert compile_exception({"metadata": {"name": "x"}}).state(NOW) == INVALID


def test_an_expired_exception_no_longer_applies() -> None:
    body = exception(expiresAt="2026-11-22T11:59:59Z")
    compiled = compile_exception(body)
    assert compiled.state(NOW) == EXPIRED
    assert verdict(["nginx"], exceptions(body)).verdict == VIOLATION
    assert compiled.state(NOW - timedelta(hours=1)) == ACTIVE


def test_the_next_expiry_is_the_earliest_future_one() -> None:
    soon = compile_exception(exception("soon", expiresAt="2026-11-22T12:00:05Z"))
    later = compile_exception(exception("later", expiresAt="2026-11-23T00:00:00+01:00"))
    past = compile_exception(exception("past", expiresAt="2026-11-21T00:00:00Z"))
    assert next_expiry([later, soon, past], NOW) == datetime(2026, 11, 22, 12, 0, 5, tzinfo=UTC)
    assert next_expiry([past], NOW) is None


# --- evaluation ------------------------------------------------------------------


@pytest.mark.parametrize("flags", [
    frozenset({"hostNetwork"}), frozenset({"hostPID"}), frozenset({"hostIPC"}),
    frozenset({"hostNetwork", "hostPID"}), ALL,
])
def test_every_flag_alone_and_combined_is_a_violation_without_an_exception(flags: frozenset[str]) -> None:
    result = verdict(["nginx"], exceptions(), flags=flags)
    assert result.verdict == VIOLATION
    assert set(result.flags) == flags == set(result.uncovered_flags)


def test_a_pod_without_host_namespaces_is_compliant() -> None:
    assert verdict(["evil.example/miner"], exceptions(), flags=frozenset()).verdict == COMPLIANT


def test_a_trusted_sidecar_does_not_vouch_for_an_untrusted_container() -> None:
    result = verdict(["nginx", "evil.example/miner:1"], exceptions(exception(images=["nginx"])))
    assert result.verdict == VIOLATION
    assert result.uncovered_images == ("evil.example/miner:1",)
    assert result.exceptions == (("trusted", "trusted reason"),)


@pytest.mark.parametrize("kind", ["initContainers", "containers", "ephemeralContainers"])
def test_init_and_ephemeral_containers_must_be_trusted_too(kind: str) -> None:
    containers = (container("nginx"), container("busybox:1.36", kind=kind))
    assert verdict(containers, exceptions(exception(images=["nginx"]))).verdict == VIOLATION
    both = exceptions(exception(images=["nginx", "busybox"]))
    assert verdict(containers, both).verdict == EXCEPTED


def test_every_container_may_be_trusted_by_a_different_exception() -> None:
    exc = exceptions(exception("a", ["nginx"]), exception("b", ["busybox"]))
    result = verdict(["nginx", "busybox"], exc)
    assert result.verdict == EXCEPTED
    assert [name for name, _ in result.exceptions] == ["a", "b"]


def test_a_pod_with_no_containers_is_never_excepted() -> None:
    assert verdict([], exceptions(exception(images=["nginx"]))).verdict == VIOLATION


def test_an_unparseable_image_is_never_trusted() -> None:
    exc = exceptions(exception(images=["nginx"]))
    result = verdict(["NGINX"], exc)
    assert result.verdict == VIOLATION and result.uncovered_images == ("NGINX",)


def test_an_exception_covers_only_its_host_namespaces() -> None:
    exc = exceptions(exception(images=["nginx"], hostNamespaces=["hostNetwork"]))
    result = verdict(["nginx"], exc, flags=frozenset({"hostNetwork", "hostPID"}))
    assert result.verdict == VIOLATION
    assert result.uncovered_flags == ("hostPID",)
    assert verdict(["nginx"], exc, flags=frozenset({"hostNetwork"})).verdict == EXCEPTED


@pytest.mark.parametrize(("namespace", "expected"), [("kube-system", EXCEPTED), ("default", VIOLATION)])
def test_an_exception_applies_only_in_its_namespaces(namespace: str, expected: str) -> None:
    exc = exceptions(exception(images=["nginx"], namespaces=["kube-system"]))
    assert verdict(["nginx"], exc, namespace=namespace).verdict == expected


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({"matchLabels": {"app": "proxy"}}, {"app": "proxy"}, EXCEPTED),
    ({"matchLabels": {"app": "proxy"}}, {"app": "web"}, VIOLATION),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["node", "infra"]}]}, {"tier": "infra"}, EXCEPTED),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, {}, EXCEPTED),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, {"tier": "web"}, VIOLATION),
    ({"matchExpressions": [{"key": "debug", "operator": "Exists"}]}, {"debug": ""}, EXCEPTED),
    ({"matchExpressions": [{"key": "debug", "operator": "DoesNotExist"}]}, {"debug": "1"}, VIOLATION),
    ({}, {"anything": "x"}, EXCEPTED),
])
def test_an_exception_applies_only_to_pods_its_selector_selects(
    selector: dict[str, Any], labels: dict[str, str], expected: str
) -> None:
    exc = exceptions(exception(images=["nginx"], podSelector=selector))
    assert verdict(["nginx"], exc, labels=labels).verdict == expected


def pod_body(image: str, statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": image}]},
        "status": {"containerStatuses": statuses or []},
    }


@pytest.mark.parametrize(("status", "expected"), [
    ({"name": "c", "image": "ghcr.io/acme/tool:1", "imageID": f"ghcr.io/acme/tool@{DIGEST}"}, EXCEPTED),
    ({"name": "c", "image": "ghcr.io/acme/tool:1", "imageID": f"ghcr.io/acme/tool@{OTHER_DIGEST}"}, VIOLATION),
    ({"name": "c", "image": "ghcr.io/acme/tool:1", "imageID": ""}, VIOLATION),
    ({"name": "c", "image": "ghcr.io/acme/tool:1", "imageID": DIGEST}, VIOLATION),
    ({"name": "c", "image": "ghcr.io/acme/tool:0", "imageID": f"ghcr.io/acme/tool@{DIGEST}"}, VIOLATION),  # stale
    ({"name": "other", "image": "ghcr.io/acme/tool:1", "imageID": f"ghcr.io/acme/tool@{DIGEST}"}, VIOLATION),
    (None, VIOLATION),
])
def test_a_digest_pin_uses_the_kubelet_reported_digest_of_the_same_image(
    status: dict[str, Any] | None, expected: str
) -> None:
    exc = exceptions(exception(images=[f"ghcr.io/acme/tool@{DIGEST}"]))
    facts = pod_facts(pod_body("ghcr.io/acme/tool:1", [status] if status else None))
    assert evaluate_pod(facts, exc).verdict == expected


@pytest.mark.parametrize(("value", "in_use"), [
    (True, True), (False, False), (None, False), ("true", True), ("false", False), ("", False),
    ("yes", True), (1, True),
])
def test_a_host_namespace_field_counts_unless_explicitly_false(value: Any, in_use: bool) -> None:
    assert flag_set(value) is in_use


@pytest.mark.parametrize("body", [
    {}, {"metadata": None, "spec": None}, {"metadata": [], "spec": "x", "status": 3},
    {"spec": {"hostPID": True, "containers": "nope", "initContainers": [None, 3]}},
    {"spec": {"hostPID": True, "containers": [{"image": None}]},
     "status": {"containerStatuses": {"not": "a list"}}},
])
def test_strange_pod_bodies_never_raise(body: dict[str, Any]) -> None:
    facts = pod_facts(body)
    result = evaluate_pod(facts, exceptions(exception(images=["nginx"])))
    assert result.verdict in (COMPLIANT, VIOLATION)
