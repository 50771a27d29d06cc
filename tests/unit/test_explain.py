"""`explain`: per container and host namespace, which exception covers it, or why not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hostns.evaluation import EXCEPTED, VIOLATION
from hostns.exceptions import compile_exception
from hostns.explain import Answer, explain, format_explanation
from hostns.pods import Container, pod_facts

from .builders import DIGEST, NOW, OTHER_DIGEST, exception_body, pod, status

AGENT = "docker.io/elastic/elastic-agent:8.15.0"


def _answers(spec: dict[str, Any], image: str = AGENT, *, digest: str | None = None,
             flag: str = "hostNetwork", namespace: str = "ops",
             labels: dict[str, str] | None = None) -> list[tuple[str, Answer]]:
    body = exception_body("agent", spec.pop("images", ["docker.io/elastic/elastic-agent:*"]), **spec)
    result = explain(namespace, labels or {"app": "agent"}, frozenset({flag}),
                     [Container("agent", "containers", image, digest)],
                     [compile_exception(body)], NOW)
    [container] = result.containers
    [per_flag] = container.flags
    return [(a.exception, a.answer) for a in per_flag.answers]


@pytest.mark.parametrize(
    ("spec", "kwargs", "answer"),
    [
        pytest.param({}, {}, Answer.COVERS, id="covers"),
        pytest.param({"images": ["*agent*"]}, {}, Answer.INVALID, id="invalid exception"),
        pytest.param({"expiresAt": (NOW - timedelta(hours=1)).isoformat()}, {}, Answer.EXPIRED, id="expired"),
        pytest.param({"hostNamespaces": ["hostPID"]}, {}, Answer.FLAG, id="covers another flag"),
        pytest.param({"namespaces": ["kube-system"]}, {}, Answer.NAMESPACE, id="another namespace"),
        pytest.param({"podSelector": {"matchLabels": {"app": "other"}}}, {}, Answer.SELECTOR, id="selector"),
        pytest.param({"images": ["docker.io/elastic/metricbeat:*"]}, {}, Answer.PATTERN, id="no pattern"),
        pytest.param({"images": [f"docker.io/elastic/elastic-agent@{DIGEST}"]}, {}, Answer.DIGEST_UNKNOWN, id="digest not yet reported"),
        pytest.param({"images": [f"docker.io/elastic/elastic-agent@{DIGEST}"]}, {"digest": OTHER_DIGEST}, Answer.DIGEST_MISMATCH, id="another digest"),
        pytest.param({"images": [f"docker.io/elastic/elastic-agent@{DIGEST}"]}, {"digest": DIGEST}, Answer.COVERS, id="the pinned digest"),
        pytest.param({}, {"image": "docker.io/Elastic/agent"}, Answer.IMAGE_INVALID, id="image does not parse"),
    ],
)
def test_each_exception_gives_the_first_reason_it_does_not_cover_the_container(
    spec: dict[str, Any], kwargs: dict[str, Any], answer: Answer
) -> None:
    assert _answers(spec, **kwargs) == [("agent", answer)]


def test_a_tag_pattern_beside_a_digest_is_explained_as_such() -> None:
    image = f"{AGENT}@{DIGEST}"
    assert _answers({"images": [AGENT]}, image, digest=DIGEST) == [("agent", Answer.TAG_WITH_DIGEST)]



def test_the_untrusted_sidecar_is_the_one_named_not_covered() -> None:
    body = pod(images=[AGENT, "docker.io/library/busybox:1.36"], flags=["hostNetwork"])
    facts = pod_facts(body)
    exceptions = [compile_exception(exception_body("agent", ["docker.io/elastic/elastic-agent:*"]))]
    result = explain(facts.namespace, facts.label_map, facts.flags, facts.containers, exceptions, NOW)
    assert result.verdict.verdict == VIOLATION
    covered = {(c.container.name, f.flag): f.covered for c in result.containers for f in c.flags}
    assert covered == {("c0", "hostNetwork"): True, ("c1", "hostNetwork"): False}
    text = format_explanation("pod/default/agent", result)
    assert text.splitlines()[0] == "pod/default/agent: Violation (hostNetwork not covered)"
    assert "  container c1: docker.io/library/busybox:1.36\n    hostNetwork: NOT covered\n" in text
    assert "      - agent: no pattern matches: docker.io/elastic/elastic-agent:*" in text
    assert "      + agent: trusts it by docker.io/elastic/elastic-agent:*" in text


def test_a_kubelet_reported_digest_satisfies_a_pin_in_the_explanation_too() -> None:
    body = pod(images=["docker.io/library/busybox:1.36"], flags=["hostPID"],
               statuses={"containerStatuses": [status("c0", "docker.io/library/busybox:1.36",
                                                      f"docker.io/library/busybox@{DIGEST}")]})
    facts = pod_facts(body)
    exceptions = [compile_exception(exception_body("pin", [f"busybox@{DIGEST}"]))]
    result = explain(facts.namespace, facts.label_map, facts.flags, facts.containers, exceptions, NOW)
    assert result.verdict.verdict == EXCEPTED
    assert [a.answer for a in result.containers[0].flags[0].answers] == [Answer.COVERS]


def test_every_flag_in_use_is_explained_and_a_compliant_pod_has_nothing_to_explain() -> None:
    containers = [Container("c", "containers", "nginx", None)]
    result = explain("ops", {}, frozenset({"hostPID", "hostNetwork"}), containers, [], NOW)
    assert [f.flag for f in result.containers[0].flags] == ["hostNetwork", "hostPID"]
    assert "(no HostNamespaceException exists)" in format_explanation("pod/ops/x", result)
    compliant = explain("ops", {}, frozenset(), containers, [], NOW)
    assert compliant.verdict.verdict == "Compliant"
    assert format_explanation("pod/ops/x", compliant).startswith("pod/ops/x: Compliant (uses no host namespace)")
