"""Property tests of the matching rule (hypothesis): the indexed, cached engine
agrees with the rule written naively, and the rule's security properties hold
on every generated pod — no trusted sidecar vouches for an untrusted container,
order and container kind never matter, more policy never takes trust away.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hostns.evaluation import EXCEPTED, VIOLATION, PodVerdict, evaluate
from hostns.exceptions import CompiledException, ExceptionSet, compile_exception
from hostns.explain import Answer, explain
from hostns.images import ImageError, parse_image
from hostns.pods import Container
from hostns.rules import FLAGS, ordered

from .builders import DIGEST, NOW, OTHER_DIGEST

REGISTRIES = ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io:443"]
REPOS = ["acme/agent", "acme/agent-debug", "acme/tools/agent", "library/nginx", "kube-proxy"]
TAGS = ["1.0", "1.0.1", "latest", "v2-rc"]
NAMESPACES = ["default", "kube-system", "ops"]

images = st.builds(
    lambda registry, repo, tag, digest: f"{registry}/{repo}{tag}{digest}",
    st.sampled_from(REGISTRIES), st.sampled_from(REPOS),
    st.sampled_from(["", *(f":{t}" for t in TAGS)]),
    st.sampled_from(["", f"@{DIGEST}", f"@{OTHER_DIGEST}"]),
)
# Patterns from the same vocabulary, so that matches are frequent: literal and
# wildcard repositories and tags, and digest pins.
patterns = st.builds(
    lambda registry, repo, tag: f"{registry}/{repo}{tag}",
    st.sampled_from(REGISTRIES),
    st.sampled_from([*REPOS, "acme/*", "acme/agent*", "acme/tools/*"]),
    st.sampled_from(["", ":*", ":1.*", *(f":{t}" for t in TAGS), f"@{DIGEST}"]),
)
flag_sets = st.frozensets(st.sampled_from(FLAGS))
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b"]), max_size=2)


@st.composite
def exception_bodies(draw: st.DrawFn, name: str, trusted: tuple[str, ...] = ()) -> dict[str, Any]:
    """An exception; `trusted` are images it may name literally, so that matches are common."""
    pattern = st.one_of(patterns, st.sampled_from(trusted)) if trusted else patterns
    spec: dict[str, Any] = {"reason": f"{name} is trusted",
                            "images": draw(st.lists(pattern, min_size=1, max_size=3, unique=True))}
    if draw(st.booleans()):
        spec["hostNamespaces"] = sorted(draw(flag_sets.filter(bool)))
    if draw(st.booleans()):
        spec["namespaces"] = draw(st.lists(st.sampled_from(NAMESPACES), min_size=1, unique=True))
    if draw(st.booleans()):
        spec["podSelector"] = {"matchLabels": draw(labels)}
    return {"metadata": {"name": name, "generation": 1}, "spec": spec}


@st.composite
def policies(draw: st.DrawFn, trusted: tuple[str, ...] = ()) -> list[CompiledException]:
    count = draw(st.integers(min_value=0, max_value=4))
    return [compile_exception(draw(exception_bodies(f"e{i}", trusted))) for i in range(count)]


@st.composite
def containers(draw: st.DrawFn) -> tuple[Container, ...]:
    drawn = draw(st.lists(st.tuples(st.sampled_from(["initContainers", "containers",
                                                       "ephemeralContainers"]), images),
                          min_size=1, max_size=4))
    return tuple(Container(f"c{i}", kind, image, _spec_digest(image))
                 for i, (kind, image) in enumerate(drawn))


def _spec_digest(image: str) -> str | None:
    try:
        return parse_image(image).digest
    except ImageError:
        return None


class Pod:
    def __init__(self, namespace: str, labels: dict[str, str], flags: frozenset[str],
                 containers: tuple[Container, ...]) -> None:
        self.namespace, self.labels, self.flags, self.containers = namespace, labels, flags, containers

    def judge(self, policy: list[CompiledException]) -> PodVerdict:
        return evaluate(self.namespace, self.labels, self.flags, self.containers,
                        ExceptionSet(policy, NOW))


pods = st.builds(Pod, st.sampled_from(NAMESPACES), labels, flag_sets.filter(bool), containers())


def naive_uncovered(pod: Pod, policy: list[CompiledException]) -> set[str]:
    """The matching rule as the spec states it, with no index and no cache."""
    uncovered: set[str] = set()
    for flag in pod.flags:
        for container in pod.containers:
            try:
                ref = parse_image(container.image)
            except ImageError:
                uncovered.add(flag)
                continue
            if not any(
                exception.applies_to(flag, pod.namespace, pod.labels)
                and any(p.matches(ref, container.digest) for p in exception.patterns)
                for exception in policy
            ):
                uncovered.add(flag)
    return uncovered


@settings(max_examples=500, deadline=None)
@given(pods, st.data())
def test_the_engine_agrees_with_the_rule_written_naively(pod: Pod, data: st.DataObject) -> None:
    policy = data.draw(policies(tuple(c.image for c in pod.containers)))
    verdict = pod.judge(policy)
    uncovered = naive_uncovered(pod, policy)
    assert verdict.uncovered_flags == ordered(uncovered)
    assert verdict.verdict == (VIOLATION if uncovered else EXCEPTED)
    assert verdict.flags == ordered(pod.flags)


@settings(max_examples=300, deadline=None)
@given(pods, policies(), images.filter(lambda i: not i.startswith("quay.io")))
def test_an_untrusted_sidecar_always_makes_the_pod_a_violation(
    pod: Pod, policy: list[CompiledException], _: str
) -> None:
    # quay.io:443/untrusted/sidecar is matched by no generated pattern.
    sidecar = Container("sidecar", "containers", "quay.io:443/untrusted/sidecar:1", None)
    with_sidecar = Pod(pod.namespace, pod.labels, pod.flags, (*pod.containers, sidecar))
    verdict = with_sidecar.judge(policy)
    assert verdict.verdict == VIOLATION
    assert verdict.uncovered_flags == ordered(pod.flags)
    assert "quay.io:443/untrusted/sidecar:1" in verdict.uncovered_images


@settings(max_examples=300, deadline=None)
@given(pods, policies(), st.randoms(use_true_random=False))
def test_neither_container_order_nor_container_kind_changes_the_verdict(
    pod: Pod, policy: list[CompiledException], random: Any
) -> None:
    shuffled = list(pod.containers)
    random.shuffle(shuffled)
    kinds = ["initContainers", "containers", "ephemeralContainers"]
    moved = tuple(c._replace(kind=random.choice(kinds)) for c in shuffled)
    before, after = pod.judge(policy), Pod(pod.namespace, pod.labels, pod.flags, moved).judge(policy)
    assert (after.verdict, after.uncovered_flags, after.images) == (
        before.verdict, before.uncovered_flags, before.images,
    )


@settings(max_examples=300, deadline=None)
@given(pods, policies(), exception_bodies("extra"))
def test_an_extra_exception_never_takes_trust_away(
    pod: Pod, policy: list[CompiledException], extra: dict[str, Any]
) -> None:
    before = pod.judge(policy)
    after = pod.judge([*policy, compile_exception(extra)])
    assert set(after.uncovered_flags) <= set(before.uncovered_flags)
    if before.verdict == EXCEPTED:
        assert after.verdict == EXCEPTED


@settings(max_examples=300, deadline=None)
@given(pods, st.data())
def test_the_explanation_agrees_with_the_verdict(pod: Pod, data: st.DataObject) -> None:
    policy = data.draw(policies(tuple(c.image for c in pod.containers)))
    result = explain(pod.namespace, pod.labels, pod.flags, pod.containers, policy, NOW)
    assert result.verdict == pod.judge(policy)
    for container in result.containers:
        for flag in container.flags:
            assert len(flag.answers) == len(policy)
            assert flag.covered == any(a.answer == Answer.COVERS for a in flag.answers)
