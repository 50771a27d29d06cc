"""`hostns scan` and the image rules: a tag beside a digest, and a pattern the grammar misreads."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Hostns

DIGEST = "sha256:" + "a1" * 32
OTHER = "sha256:" + "b2" * 32
AGENT = "docker.io/elastic/elastic-agent"

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: kube-system}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      hostNetwork: true
      containers:
      - name: agent
        image: {image}
"""

EXCEPTION = """\
apiVersion: hostns.io/v1alpha1
kind: HostNamespaceException
metadata: {{name: agent}}
spec:
  reason: the Elastic agent reads the node network
  images: ["{pattern}"]
"""


def _scan(hostns: Hostns, tmp_path: Path, image: str, pattern: str) -> tuple[int, str, str]:
    (tmp_path / "ds.yaml").write_text(DAEMONSET.format(image=image))
    (tmp_path / "policy.yaml").write_text(EXCEPTION.format(pattern=pattern))
    run = hostns(
        "scan", "-f", str(tmp_path / "ds.yaml"), "--exceptions", str(tmp_path / "policy.yaml"),
        "-o", "json",
    )
    verdict = run.json()[0]["verdict"] if run.code in (0, 1) else ""
    return run.code, verdict, run.err


@pytest.mark.parametrize(
    ("image", "pattern", "code", "verdict"),
    [
        pytest.param(f"{AGENT}:8.4.0@{OTHER}", f"{AGENT}:8.4.0", 1, "Violation", id="trusted tag paired with a digest"),
        pytest.param(f"{AGENT}:8.4.0", f"{AGENT}:8.4.0", 0, "Excepted", id="trusted tag alone"),
        pytest.param(f"{AGENT}:8.4.0@{DIGEST}", f"{AGENT}@{DIGEST}", 0, "Excepted", id="pin on the digest"),
        pytest.param(f"{AGENT}:8.4.0@{OTHER}", AGENT, 0, "Excepted", id="tag-less pattern"),
    ],
)
def test_scan_trusts_a_tag_only_in_a_reference_without_a_digest(
    hostns: Hostns, tmp_path: Path, image: str, pattern: str, code: int, verdict: str
) -> None:
    assert _scan(hostns, tmp_path, image, pattern)[:2] == (code, verdict)


def test_scan_refuses_a_registry_host_without_a_repository_and_says_what_was_meant(
    hostns: Hostns, tmp_path: Path
) -> None:
    code, _, err = _scan(hostns, tmp_path, f"registry.k8s.io/kube-proxy:v1.34.4@{DIGEST}", "registry.k8s.io:*")
    assert code == 2
    assert "did you mean registry.k8s.io/<repository>:*?" in err


def test_scan_reads_a_look_alike_host_as_an_untrusted_image(hostns: Hostns, tmp_path: Path) -> None:
    # The Kelvin sign lower-cases to an ASCII k in Python: never folded to the trusted name.
    code, verdict, _ = _scan(hostns, tmp_path, "registry.\u212a8s.io/kube-proxy:v1", "registry.k8s.io/kube-proxy")
    assert (code, verdict) == (1, "Violation")
