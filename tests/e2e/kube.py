"""kubectl helpers for the e2e suite: one way to run the real kubectl against a cluster.

The tests drive the cluster through the same CLI a person would use, so a failure
reads like a terminal session. Every helper takes the kubeconfig explicitly: a test
often talks to the same API server as admin and as a ServiceAccount.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

KUBECTL = "kubectl"
TIMEOUT = 60.0


class KubectlError(AssertionError):
    """kubectl exited non-zero; carries its stderr so the test report shows why."""

    def __init__(self, args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> None:
        self.returncode = result.returncode
        self.stderr = result.stderr
        super().__init__(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")


def run(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """kubectl with this kubeconfig; raises KubectlError unless check=False."""
    result = subprocess.run(
        [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise KubectlError(args, result)
    return result


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None,
            timeout: float = TIMEOUT) -> str:
    """kubectl's stdout; raises KubectlError (with stderr) on failure."""
    return run(kubeconfig, *args, stdin=stdin, timeout=timeout).stdout


def kubectl_json(kubeconfig: Path, *args: str) -> Any:
    """kubectl ... -o json, parsed."""
    return json.loads(kubectl(kubeconfig, *args, "-o", "json"))


def apply(kubeconfig: Path, *bodies: dict[str, Any]) -> str:
    """kubectl apply of objects given as dicts (a List, so one call for many)."""
    document = {"apiVersion": "v1", "kind": "List", "items": list(bodies)}
    return kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(document))


def can_i(kubeconfig: Path, verb: str, resource: str, *extra: str) -> bool:
    """kubectl auth can-i: exit code 0 is yes, 1 is no; anything else is an error."""
    result = run(kubeconfig, "auth", "can-i", verb, resource, *extra, check=False)
    if result.returncode not in (0, 1):
        raise KubectlError(("auth", "can-i", verb, resource, *extra), result)
    return result.returncode == 0


def create_token(kubeconfig: Path, namespace: str, service_account: str,
                 duration: str = "1h") -> str:
    """A bound ServiceAccount token from the TokenRequest API (kubectl create token)."""
    return kubectl(kubeconfig, "create", "token", service_account, "-n", namespace,
                   f"--duration={duration}").strip()
