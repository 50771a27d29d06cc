"""`kubectl hostns`: the kubectl plugin (installed as the `kubectl-hostns` command).

    kubectl hostns explain pod/NAME [-n NS]      why is this pod a Violation (or not)?
    kubectl hostns explain deploy/NAME [-n NS]   the same for a workload's pod template
    kubectl hostns explain -f app.yaml           manifests, against the cluster's exceptions
    kubectl hostns findings [-A | -n NS]         the inventory, with the uncovered images

Read-only: it runs `kubectl get` with the current kubeconfig context (or
`--context` / `--kubeconfig`), so it has exactly the user's rights and
credentials, and answers with the operator's own engine (`hostns.core.explain`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from hostns.core.bodies import field, mapping
from hostns.core.evaluation import VIOLATION
from hostns.core.exceptions import CompiledException, compile_exception, parse_time
from hostns.core.explain import explain, format_explanation
from hostns.core.findings import GROUP
from hostns.core.pods import Container, pod_facts
from hostns.offline.columns import aligned
from hostns.offline.manifests import Manifest, ManifestError, Origin, read_manifests
from hostns.offline.scan import POD_BEARING, is_exception, template_facts

PROG = "kubectl hostns"
EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2
EXCEPTIONS = f"hostnamespaceexceptions.{GROUP}"
FINDINGS = f"hostnamespacefindings.{GROUP}"
KUBECTL_TIMEOUT_SECONDS = 60


class PluginError(Exception):
    """A one-line message for the user."""


@dataclass(frozen=True, slots=True)
class Kubectl:
    """`kubectl get ... -o json`, with the user's context flags passed through."""

    global_flags: tuple[str, ...]

    def get(self, *args: str) -> Any:
        binary = shutil.which("kubectl")
        if binary is None:
            raise PluginError("kubectl is not on PATH")
        command = [binary, *self.global_flags, "get", *args, "-o", "json"]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PluginError(f"kubectl get {' '.join(args)}: no answer in "
                              f"{KUBECTL_TIMEOUT_SECONDS}s") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise PluginError(lines[-1] if lines else f"kubectl exited {done.returncode}")
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise PluginError(f"kubectl printed no JSON: {exc.msg}") from None


@dataclass(frozen=True, slots=True)
class Subject:
    """Something to explain: a live pod, or a pod template (from the cluster or a file)."""

    title: str
    namespace: str
    labels: dict[str, str]
    flags: frozenset[str]
    containers: tuple[Container, ...]


def _subjects_of(body: Any, source: str) -> list[Subject]:
    """Pods (with their kubelet-reported digests) and pod templates of `body`."""
    kind = str(mapping(body).get("kind"))
    items = mapping(body).get("items")
    if kind.endswith("List") and isinstance(items, list):  # `kubectl get pods -l app=x`
        return [subject for item in items for subject in _subjects_of(item, source)]
    if kind == "Pod":
        facts = pod_facts(body)
        workload = facts.workload
        owner = "" if workload.kind == "Pod" else f" (workload {workload.kind}/{workload.name})"
        return [Subject(f"pod/{facts.name} in {facts.namespace}{owner}", facts.namespace,
                        facts.label_map, facts.flags, facts.containers)]
    facts_t = template_facts(Manifest(Origin(source, 1), body))
    if facts_t is None:
        raise PluginError(f"{kind}: not a kind that carries a pod")
    return [Subject(f"{facts_t.kind.lower()}/{facts_t.name} in {facts_t.namespace} (pod template)",
                    facts_t.namespace, facts_t.labels, facts_t.flags, facts_t.containers)]


def _cluster_exceptions(kubectl: Kubectl) -> list[CompiledException]:
    listed = kubectl.get(EXCEPTIONS)
    return [compile_exception(item) for item in mapping(listed).get("items") or []]


def _file_exceptions(
    paths: Sequence[str], stdin: IO[bytes] | IO[str]
) -> list[CompiledException]:
    return [compile_exception(m.body) for m in read_manifests(paths, stdin) if is_exception(m)]


def _explain(
    args: argparse.Namespace, kubectl: Kubectl, out: IO[str], stdin: IO[bytes] | IO[str]
) -> int:
    now = parse_time(args.now) if args.now else datetime.now(UTC)
    subjects: list[Subject] = []
    if args.paths:
        for manifest in read_manifests(args.paths, stdin):
            if manifest.kind in POD_BEARING:
                subjects.extend(_subjects_of(manifest.body, str(manifest.origin)))
        if not subjects:
            raise PluginError("no pod-bearing manifest in the input")
    if args.target:
        namespace = ["-n", args.namespace] if args.namespace else []
        subjects.extend(_subjects_of(kubectl.get(args.target, *namespace), "cluster"))
    if not subjects:
        raise PluginError("name a target (pod/NAME, deploy/NAME, ...) or -f FILE")
    exceptions = (
        _file_exceptions(args.exception_paths, stdin) if args.exception_paths
        else _cluster_exceptions(kubectl)
    )
    worst = EXIT_OK
    for subject in subjects:
        result = explain(subject.namespace, subject.labels, subject.flags,
                                      subject.containers, exceptions, now)
        out.write(format_explanation(subject.title, result))
        if result.verdict.verdict == VIOLATION:
            worst = EXIT_VIOLATION
    return worst


FINDINGS_HEADER = ("NAMESPACE", "WORKLOAD", "VERDICT", "HOST-NAMESPACES", "PODS", "UNCOVERED")


def _finding_row(item: Any) -> tuple[str, ...]:
    status, workload = field(item, "status"), field(field(item, "spec"), "workload")
    uncovered = [
        f"{use.get('image')} ({','.join(use.get('uncovered') or [])})"
        for use in status.get("images") or [] if isinstance(use, dict) and use.get("uncovered")
    ]
    return (
        str(field(item, "metadata").get("namespace") or ""),
        f"{workload.get('kind', '?')}/{workload.get('name', '?')}",
        str(status.get("verdict") or "-"),
        str(status.get("summary") or "-"),
        str(field(status, "pods").get("count", 0)),
        ", ".join(uncovered) or "-",
    )


_VERDICT_ORDER = {"Violation": 0, "Excepted": 1, "Resolved": 2}


def _findings(args: argparse.Namespace, kubectl: Kubectl, out: IO[str]) -> int:
    scope = ["--all-namespaces"] if args.all_namespaces or not args.namespace else [
        "-n", args.namespace]
    items = [i for i in mapping(kubectl.get(FINDINGS, *scope)).get("items") or []
             if isinstance(i, dict)]
    rows = sorted((_finding_row(i) for i in items),
                  key=lambda r: (_VERDICT_ORDER.get(r[2], 3), r[0], r[1]))
    if not rows:
        out.write("No HostNamespaceFindings.\n")
        return EXIT_OK
    out.write(aligned(FINDINGS_HEADER, rows))
    return EXIT_VIOLATION if any(r[2] == VIOLATION for r in rows) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Host-namespace findings and why "
                                     "a pod is or is not covered by a HostNamespaceException.")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--kubeconfig", help="path of the kubeconfig file")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ex = commands.add_parser(
        "explain", help="per container and host namespace: which exception covers it, or why not",
        description="Exit status: 0 nothing violates, 1 a Violation, 2 an error.")
    ex.add_argument("target", nargs="?", help="pod/NAME, deploy/NAME, ds/NAME, sts/NAME, "
                    "job/NAME, cj/NAME, rs/NAME, rc/NAME, podtemplate/NAME")
    ex.add_argument("-n", "--namespace", help="namespace of the target")
    ex.add_argument("-f", "--filename", action="append", dest="paths", default=[],
                    metavar="PATH", help="manifest file or directory, or - (repeatable)")
    ex.add_argument("--exceptions", action="append", dest="exception_paths", default=[],
                    metavar="PATH", help="read exceptions from files instead of the cluster")
    ex.add_argument("--now", metavar="TIME", help="judge expiry as of this RFC 3339 time")
    fi = commands.add_parser(
        "findings", help="the HostNamespaceFinding inventory, Violations first")
    fi.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    fi.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    return parser


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None,
         stdin: IO[bytes] | IO[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    flags = tuple(f for name in ("context", "kubeconfig")
                  if (value := getattr(args, name)) for f in (f"--{name}", value))
    kubectl = Kubectl(flags)
    try:
        if args.command == "explain":
            return _explain(args, kubectl, out, stdin or sys.stdin.buffer)
        return _findings(args, kubectl, out)
    except (PluginError, ManifestError, ValueError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
