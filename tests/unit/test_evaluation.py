"""The matching rule (spec §2, security-critical): every container, every flag, fail closed."""

from __future__ import annotations

from itertools import combinations

import pytest

from hostns.evaluation import COMPLIANT, EXCEPTED, VIOLATION, evaluate, evaluate_pod
from hostns.pods import Container, pod_facts

from .builders import (
    ALL_FLAGS,
    CONFIG_ID,
    DIGEST,
    NOW,
    OTHER_DIGEST,
    exception_body,
    exception_set,
    judge,
    judge_images,
    pod,
    status,
)

FLAG_COMBINATIONS = [
    frozenset(c) for n in (1, 2, 3) for c in combinations(("hostNetwork", "hostPID", "hostIPC"), n)
]


def _ids(flags: frozenset[str]) -> str:
    return "+".join(sorted(flags))


# --- flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", FLAG_COMBINATIONS, ids=_ids)
def test_every_flag_alone_and_combined_is_a_violation_without_an_exception(flags: frozenset[str]) -> None:
    verdict = judge(pod(flags=sorted(flags)))
    assert verdict.verdict == VIOLATION
    assert set(verdict.flags) == set(verdict.uncovered_flags) == flags
    assert verdict.uncovered_images == ("docker.io/library/nginx:1.25",)
    assert verdict.exceptions == ()


@pytest.mark.parametrize("flags", FLAG_COMBINATIONS, ids=_ids)
def test_every_flag_alone_and_combined_is_excepted_by_an_unscoped_exception(flags: frozenset[str]) -> None:
    verdict = judge(pod(flags=sorted(flags)), exception_body("web", ["nginx"]))
    assert verdict.verdict == EXCEPTED
    assert verdict.uncovered_flags == ()
    assert verdict.exceptions == (("web", "web: approved by the platform team"),)


@pytest.mark.parametrize("flags", FLAG_COMBINATIONS, ids=_ids)
def test_an_exception_covers_only_the_flags_it_lists(flags: frozenset[str]) -> None:
    verdict = judge(pod(flags=sorted(flags)), exception_body("net", ["nginx"], hostNamespaces=["hostNetwork"]))
    uncovered = flags - {"hostNetwork"}
    assert verdict.verdict == (VIOLATION if uncovered else EXCEPTED)
    assert set(verdict.uncovered_flags) == uncovered


def test_an_exception_for_host_network_only_does_not_cover_host_pid() -> None:
    verdict = judge(pod(flags=["hostPID"]), exception_body("net", ["nginx"], hostNamespaces=["hostNetwork"]))
    assert (verdict.verdict, verdict.uncovered_flags) == (VIOLATION, ("hostPID",))
    assert verdict.exceptions == ()  # it trusted the image but did not apply


def test_flags_covered_by_different_exceptions_add_up() -> None:
    verdict = judge(
        pod(flags=["hostNetwork", "hostPID"]),
        exception_body("net", ["nginx"], hostNamespaces=["hostNetwork"]),
        exception_body("pid", ["nginx:1.25"], hostNamespaces=["hostPID"]),
    )
    assert verdict.verdict == EXCEPTED
    assert [name for name, _ in verdict.exceptions] == ["net", "pid"]


def test_a_pod_without_host_namespaces_is_compliant_whatever_its_images() -> None:
    verdict = judge(pod(flags=[], images=["NOT AN IMAGE"]))
    assert (verdict.verdict, verdict.flags, verdict.images) == (COMPLIANT, (), ())


# --- every container must be trusted -----------------------------------------------------


def test_a_trusted_sidecar_does_not_vouch_for_an_untrusted_container() -> None:
    verdict = judge(pod(images=["nginx:1.25", "evil.example/miner:1"]), exception_body("web", ["nginx"]))
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_images == ("evil.example/miner:1",)
    by_image = {use.image: use.uncovered for use in verdict.images}
    assert by_image == {"docker.io/library/nginx:1.25": (), "evil.example/miner:1": ("hostNetwork",)}


@pytest.mark.parametrize(
    ("images", "init_images", "ephemeral_images", "uncovered"),
    [
        pytest.param(["nginx:1.25"], ["evil.example/setup:1"], [], "evil.example/setup:1", id="untrusted init container"),
        pytest.param(["nginx:1.25"], [], ["evil.example/debug:1"], "evil.example/debug:1", id="untrusted ephemeral container"),
        pytest.param(["evil.example/app:1"], ["nginx:1.25"], ["nginx:1.25"], "evil.example/app:1", id="untrusted regular container"),
    ],
)
def test_init_and_ephemeral_containers_are_evaluated_like_regular_ones(
    images: list[str], init_images: list[str], ephemeral_images: list[str], uncovered: str
) -> None:
    body = pod(images=images, init_images=init_images, ephemeral_images=ephemeral_images)
    verdict = judge(body, exception_body("web", ["nginx"]))
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_images == (uncovered,)


def test_a_pod_whose_init_regular_and_ephemeral_containers_are_all_trusted_is_excepted() -> None:
    body = pod(images=["nginx:1.25"], init_images=["busybox:1.36"], ephemeral_images=["busybox:1.36"])
    verdict = judge(body, exception_body("web", ["nginx", "busybox:1.36"]))
    assert verdict.verdict == EXCEPTED


def test_kubectl_debug_adding_an_untrusted_ephemeral_container_turns_an_excepted_pod_into_a_violation() -> None:
    before = pod(flags=["hostNetwork", "hostPID", "hostIPC"])
    after = pod(flags=["hostNetwork", "hostPID", "hostIPC"], ephemeral_images=["nicolaka/netshoot"])
    exc = exception_body("web", ["nginx"])
    assert judge(before, exc).verdict == EXCEPTED
    assert judge(after, exc).uncovered_images == ("docker.io/nicolaka/netshoot:latest",)


def test_every_container_may_be_trusted_by_a_different_exception() -> None:
    verdict = judge(
        pod(images=["nginx:1.25", "registry.k8s.io/pause:3.10"]),
        exception_body("web", ["nginx"]),
        exception_body("pause", ["registry.k8s.io/pause:*"]),
    )
    assert verdict.verdict == EXCEPTED
    assert [name for name, _ in verdict.exceptions] == ["pause", "web"]


def test_containers_trusted_for_different_flags_do_not_cover_each_other() -> None:
    verdict = judge(
        pod(images=["nginx:1.25", "busybox:1.36"], flags=["hostNetwork", "hostPID"]),
        exception_body("web-net", ["nginx"], hostNamespaces=["hostNetwork", "hostPID"]),
        exception_body("box-net", ["busybox"], hostNamespaces=["hostNetwork"]),
    )
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_flags == ("hostPID",)
    assert verdict.uncovered_images == ("docker.io/library/busybox:1.36",)


def test_a_pod_with_no_containers_is_never_excepted() -> None:
    exceptions = exception_set(exception_body("everything", ["nginx"]))
    verdict = evaluate("default", {}, ALL_FLAGS, (), exceptions)
    assert verdict.verdict == VIOLATION
    assert set(verdict.uncovered_flags) == ALL_FLAGS
    body = pod(images=[])
    assert evaluate_pod(pod_facts(body), exceptions).verdict == VIOLATION


@pytest.mark.parametrize(
    "image",
    [
        pytest.param("NGINX", id="uppercase"),
        pytest.param("nginx@sha256:abc", id="garbage digest"),
        pytest.param("***", id="garbage"),
        pytest.param("<missing>", id="missing image"),
        pytest.param("<unreadable>", id="unreadable container"),
    ],
)
def test_an_unparseable_image_is_never_trusted(image: str) -> None:
    verdict = judge_images([image], exception_body("web", ["nginx", "ghcr.io/acme/*"]))
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_images == (image,)


def test_a_container_without_an_image_is_never_trusted() -> None:
    body = pod(images=["nginx:1.25", "nginx:1.25"])
    del body["spec"]["containers"][1]["image"]
    verdict = judge(body, exception_body("web", ["nginx"]))
    assert (verdict.verdict, verdict.uncovered_images) == (VIOLATION, ("<missing>",))


def test_an_unreadable_container_list_is_never_trusted() -> None:
    body = pod(images=["nginx:1.25"])
    body["spec"]["initContainers"] = "nginx"
    verdict = judge(body, exception_body("web", ["nginx"]))
    assert (verdict.verdict, verdict.uncovered_images) == (VIOLATION, ("<unreadable>",))


# --- image spellings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "image", ["nginx", "docker.io/nginx", "docker.io/library/nginx:latest", "index.docker.io/library/nginx"]
)
@pytest.mark.parametrize(
    "pattern", ["nginx", "docker.io/nginx", "docker.io/library/nginx:latest", "index.docker.io/library/nginx"]
)
def test_any_spelling_of_a_docker_hub_image_is_trusted_by_any_spelling_of_its_pattern(
    pattern: str, image: str
) -> None:
    verdict = judge(pod(images=[image]), exception_body("hub", [pattern]))
    assert verdict.verdict == EXCEPTED
    assert verdict.images[0].image == "docker.io/library/nginx:latest"


@pytest.mark.parametrize(
    ("pattern", "image", "expected"),
    [
        ("localhost:5000/x", "localhost:5000/x:dev", EXCEPTED),
        ("localhost:5000/x", "localhost:5001/x:dev", VIOLATION),
        ("registry.example.com:5000/team/app:1", "registry.example.com:5000/team/app:1", EXCEPTED),
        ("registry.example.com:5000/team/app:1", "registry.example.com:5000/team/app:2", VIOLATION),
        ("nginx:1.25", "nginx:1.25", EXCEPTED),
        ("nginx:1.25", "nginx:1.26", VIOLATION),
        ("nginx", "nginx:any-tag", EXCEPTED),
        ("ghcr.io/acme/*", "ghcr.io/acme/team/agent:1", VIOLATION),
        ("nginx:1.25", f"nginx@{DIGEST}", VIOLATION),
    ],
)
def test_patterns_decide_the_verdict_of_a_pod(pattern: str, image: str, expected: str) -> None:
    assert judge(pod(images=[image]), exception_body("p", [pattern])).verdict == expected


# --- a tag next to a digest (the runtime pulls the digest) ---------------------------------

TAGGED = exception_body("tagged", ["docker.io/elastic/elastic-agent:8.4.0"])
AGENT = "docker.io/elastic/elastic-agent"


@pytest.mark.parametrize(
    ("patterns", "spec_image", "statuses", "expected"),
    [
        pytest.param(["docker.io/elastic/elastic-agent:8.4.0"], f"{AGENT}:8.4.0@{OTHER_DIGEST}", None, VIOLATION, id="tag pattern, spec pairs the tag with a digest"),
        pytest.param(["docker.io/elastic/elastic-agent:8.4.*"], f"{AGENT}:8.4.0@{OTHER_DIGEST}", None, VIOLATION, id="wildcard tag pattern, spec pairs a tag with a digest"),
        pytest.param(["docker.io/elastic/elastic-agent:8.4.0"], f"{AGENT}:8.4.0", [status("c0", f"{AGENT}:8.4.0", f"{AGENT}@{OTHER_DIGEST}")], EXCEPTED, id="tag pattern, spec names the tag alone, kubelet reports what it resolved to"),
        pytest.param([f"docker.io/elastic/elastic-agent@{DIGEST}"], f"{AGENT}:8.4.0@{DIGEST}", None, EXCEPTED, id="digest pin on that digest"),
        pytest.param([f"docker.io/elastic/elastic-agent@{DIGEST}"], f"{AGENT}:8.4.0@{OTHER_DIGEST}", None, VIOLATION, id="digest pin on another digest"),
        pytest.param(["docker.io/elastic/elastic-agent"], f"{AGENT}:8.4.0@{OTHER_DIGEST}", None, EXCEPTED, id="tag-less pattern trusts the repository, any digest"),
        pytest.param(["docker.io/elastic/elastic-agent:8.4.0", f"{AGENT}@{DIGEST}"], f"{AGENT}:8.4.0@{OTHER_DIGEST}", None, VIOLATION, id="a tag and a pin on another digest"),
    ],
)
def test_a_tag_pattern_does_not_trust_a_reference_that_also_names_a_digest(
    patterns: list[str], spec_image: str, statuses: list[dict[str, object]] | None, expected: str
) -> None:
    body = pod(images=[spec_image], statuses={"containerStatuses": statuses} if statuses else None)
    assert judge(body, exception_body("agent", patterns)).verdict == expected


def test_an_operator_shaped_pod_pairing_a_trusted_tag_with_a_digest_is_a_violation() -> None:
    # As the live operator sees it: a DaemonSet pod body with kubelet statuses,
    # through pod_facts. The kubelet reports the digest it pulled (the spec's).
    image = f"{AGENT}:8.4.0@{OTHER_DIGEST}"
    body = pod(
        "agent-x2k8q",
        "kube-system",
        images=[image],
        flags=("hostNetwork", "hostPID"),
        owner={"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u", "controller": True},
        statuses={"containerStatuses": [status("c0", image, f"{AGENT}@{OTHER_DIGEST}")]},
    )
    facts = pod_facts(body)
    assert facts.containers[0].digest == OTHER_DIGEST
    verdict = evaluate_pod(facts, exception_set(TAGGED))
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_images == (image,)
    assert verdict.uncovered_flags == ("hostNetwork", "hostPID")


# --- digest pins -----------------------------------------------------------------------------

PIN = exception_body("pinned", [f"nginx@{DIGEST}"])
NGINX_125 = "docker.io/library/nginx:1.25"


@pytest.mark.parametrize(
    ("spec_image", "statuses", "expected"),
    [
        pytest.param(f"nginx@{DIGEST}", None, EXCEPTED, id="spec names the pinned digest"),
        pytest.param(f"nginx@{OTHER_DIGEST}", None, VIOLATION, id="spec names another digest"),
        pytest.param(f"nginx:1.25@{DIGEST}", None, EXCEPTED, id="spec names a tag and the pinned digest"),
        pytest.param("nginx:1.25", [status("c0", NGINX_125, f"docker.io/library/nginx@{DIGEST}")], EXCEPTED, id="tag and kubelet reports the pinned digest"),
        pytest.param("nginx:1.25", [status("c0", "nginx:1.25", f"docker-pullable://nginx@{DIGEST}")], EXCEPTED, id="tag and dockershim reports the pinned digest"),
        pytest.param("nginx:1.25", [status("c0", NGINX_125, f"docker.io/library/nginx@{OTHER_DIGEST}")], VIOLATION, id="tag and kubelet reports another digest"),
        pytest.param("nginx:1.25", None, VIOLATION, id="tag and no status yet"),
        pytest.param("nginx:1.25", [status("c0", NGINX_125, "", running=False)], VIOLATION, id="tag and imageID empty"),
        pytest.param("nginx:1.25", [status("c0", NGINX_125, CONFIG_ID)], VIOLATION, id="tag and bare sha256 config ID"),
        pytest.param("nginx:1.25", [status("c0", "docker.io/library/nginx:1.24", f"docker.io/library/nginx@{DIGEST}")], VIOLATION, id="stale status of another tag"),
        pytest.param("nginx:1.25", [status("c0", "ghcr.io/evil/nginx:1.25", f"ghcr.io/evil/nginx@{DIGEST}")], VIOLATION, id="stale status of another repository"),
        pytest.param("ghcr.io/evil/nginx:1.25", [status("c0", "ghcr.io/evil/nginx:1.25", f"ghcr.io/evil/nginx@{DIGEST}")], VIOLATION, id="same digest in another repository"),
    ],
)
def test_a_digest_pin_matches_only_its_digest_from_the_spec_or_the_kubelet(
    spec_image: str, statuses: list[dict[str, object]] | None, expected: str
) -> None:
    body = pod(images=[spec_image], statuses={"containerStatuses": statuses} if statuses else None)
    verdict = judge(body, PIN)
    assert verdict.verdict == expected
    if expected == VIOLATION:
        assert verdict.uncovered_images  # it names the image that is not covered


@pytest.mark.parametrize(
    ("kind", "status_key"),
    [("init", "initContainerStatuses"), ("ephemeral", "ephemeralContainerStatuses")],
)
def test_a_digest_pin_uses_the_init_and_ephemeral_statuses_too(kind: str, status_key: str) -> None:
    name = "i0" if kind == "init" else "e0"
    body = pod(
        images=[f"nginx@{DIGEST}"],
        init_images=["nginx:1.25"] if kind == "init" else (),
        ephemeral_images=["nginx:1.25"] if kind == "ephemeral" else (),
        statuses={status_key: [status(name, NGINX_125, f"docker.io/library/nginx@{DIGEST}")]},
    )
    assert judge(body, PIN).verdict == EXCEPTED
    del body["status"][status_key]
    assert judge(body, PIN).verdict == VIOLATION


# --- namespace and selector scoping ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "namespace", "labels", "expected"),
    [
        pytest.param({"namespaces": ["kube-system"]}, "kube-system", {}, EXCEPTED, id="in its namespace"),
        pytest.param({"namespaces": ["kube-system"]}, "default", {}, VIOLATION, id="outside its namespace"),
        pytest.param({"podSelector": {"matchLabels": {"app": "agent"}}}, "default", {"app": "agent"}, EXCEPTED, id="matchLabels selects"),
        pytest.param({"podSelector": {"matchLabels": {"app": "agent"}}}, "default", {"app": "web"}, VIOLATION, id="matchLabels does not select"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["node"]}]}}, "default", {"tier": "node"}, EXCEPTED, id="In selects"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["node"]}]}}, "default", {"tier": "web"}, VIOLATION, id="In does not select"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}}, "default", {"tier": "node"}, EXCEPTED, id="NotIn selects"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}}, "default", {"tier": "web"}, VIOLATION, id="NotIn does not select"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}, "default", {"tier": "x"}, EXCEPTED, id="Exists selects"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}, "default", {}, VIOLATION, id="Exists does not select"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "debug", "operator": "DoesNotExist"}]}}, "default", {}, EXCEPTED, id="DoesNotExist selects"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "debug", "operator": "DoesNotExist"}]}}, "default", {"debug": "1"}, VIOLATION, id="DoesNotExist does not select"),
        pytest.param({"namespaces": ["kube-system"], "podSelector": {"matchLabels": {"app": "agent"}}}, "default", {"app": "agent"}, VIOLATION, id="selected but outside its namespace"),
    ],
)
def test_an_exception_applies_only_to_pods_in_its_namespaces_and_selected_by_its_selector(
    scope: dict[str, object], namespace: str, labels: dict[str, str], expected: str
) -> None:
    body = pod(namespace=namespace, labels=labels)
    assert judge(body, exception_body("scoped", ["nginx"], **scope)).verdict == expected


def test_a_matching_exception_out_of_scope_is_not_listed_as_applied() -> None:
    verdict = judge(
        pod(namespace="default"),
        exception_body("system", ["nginx"], namespaces=["kube-system"]),
        exception_body("web", ["nginx"]),
    )
    assert verdict.verdict == EXCEPTED
    assert [name for name, _ in verdict.exceptions] == ["web"]


# --- expired and invalid exceptions ------------------------------------------------------------


def test_an_expired_exception_no_longer_excepts() -> None:
    exc = exception_body("temp", ["nginx"], expiresAt="2026-11-22T12:30:00Z")
    assert judge(pod(), exc, now=NOW).verdict == EXCEPTED
    later = NOW.replace(hour=13)
    assert judge(pod(), exc, now=later).verdict == VIOLATION


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"images": ["nginx", "*elastic-agent*"]}, id="a bad pattern beside a good one"),
        pytest.param({"hostNamespaces": ["hostNetwork", "hostUser"]}, id="an unknown flag"),
        pytest.param({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}}, id="a bad selector operator"),
        pytest.param({"expiresAt": "tomorrow"}, id="a bad expiresAt"),
        pytest.param({"reason": ""}, id="no reason"),
    ],
)
def test_an_invalid_exception_matches_nothing(spec: dict[str, object]) -> None:
    body = exception_body("broken", ["nginx"])
    body["spec"].update(spec)
    verdict = judge(pod(), body)
    assert verdict.verdict == VIOLATION
    assert verdict.exceptions == ()


# --- the verdict itself --------------------------------------------------------------------------


def test_a_verdict_lists_each_image_once_normalised_and_sorted() -> None:
    verdict = judge_images(
        ["nginx:1.25", "docker.io/library/nginx:1.25", "evil.example/b:1", "evil.example/a:1"],
        exception_body("web", ["nginx"]),
        flags=frozenset({"hostPID", "hostNetwork"}),
    )
    assert [(u.image, u.flags, u.uncovered) for u in verdict.images] == [
        ("docker.io/library/nginx:1.25", ("hostNetwork", "hostPID"), ()),
        ("evil.example/a:1", ("hostNetwork", "hostPID"), ("hostNetwork", "hostPID")),
        ("evil.example/b:1", ("hostNetwork", "hostPID"), ("hostNetwork", "hostPID")),
    ]
    assert verdict.flags == ("hostNetwork", "hostPID")  # canonical order


def test_the_same_image_is_uncovered_if_any_of_its_containers_is() -> None:
    verdict = judge_images(
        [
            Container("a", "containers", "nginx:1.25", DIGEST),
            Container("b", "containers", "nginx:1.25", OTHER_DIGEST),
        ],
        exception_body("pin", [f"nginx@{DIGEST}"]),
    )
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_images == ("docker.io/library/nginx:1.25",)


def test_the_verdict_does_not_depend_on_the_cache() -> None:
    exceptions = exception_set(exception_body("web", ["nginx"], namespaces=["web"]))
    facts_in = pod_facts(pod(namespace="web", images=["nginx:1.25", "evil.example/x:1"]))
    facts_out = pod_facts(pod(namespace="other", images=["nginx:1.25"]))
    for _ in range(3):
        assert evaluate_pod(facts_in, exceptions).uncovered_images == ("evil.example/x:1",)
        assert evaluate_pod(facts_out, exceptions).verdict == VIOLATION
