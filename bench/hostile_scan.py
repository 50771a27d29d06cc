"""`hostns scan` on hostile input: wall time and peak memory, one fresh process per case.

    .venv/bin/python bench/hostile_scan.py            # every case
    .venv/bin/python bench/hostile_scan.py lol deep   # some of them

Each case writes its input to a temporary file (or pipes it to standard input), then
runs `hostns.cli.main(["scan", ...])` in a child process of its own, so that the peak
resident set size (VmHWM, see `_peak_rss_kib`) is that case's alone.
The figures are in bench/README.md.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024
CAP = 64 * MIB
REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("HOSTNS_CORPUS", "/work/shared/corpus"))


def billion_laughs() -> str:
    levels = "".join(
        f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)
    )
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: lol\n  labels:\n    l0: &l0 lol\n"
            f"{levels}spec:\n  hostNetwork: true\n  containers: [{{name: a, image: busybox}}]\n")


def lol_exceptions() -> str:
    one = billion_laughs().replace("apiVersion: v1\nkind: Pod",
                                   "apiVersion: hostns.io/v1alpha1\nkind: HostNamespaceException")
    return one + "---\n" + one


def deep_flow() -> str:
    return "[" * 1_000_000 + "]" * 1_000_000  # 2 MB; PyYAML's C composer crashed at 100,000


def alias_chain() -> str:
    chain = "".join(f"    a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 5000))
    return f"kind: Pod\nmetadata:\n  name: p\n  labels:\n    a0: &a0 [x]\n{chain}"


def _fill(unit: str, size: int) -> str:
    return unit * (size // len(unit))


def real_at_cap() -> str:
    """Real manifests (the corpus' `real/` tree), repeated to just under the cap."""
    texts = [p.read_text() for p in sorted((CORPUS / "real").rglob("*.yaml"))
             if "{{" not in p.read_text()]
    one = "\n---\n".join(texts) + "\n---\n"
    return _fill(one, CAP - 1)


def nodes_at_cap() -> str:
    """One document of 16 million one-character scalars: the most nodes per byte."""
    return "- a\n" * (CAP // 4)


def documents_at_cap() -> str:
    """Two million tiny documents."""
    return _fill("---\nkind: A\n", CAP)


def json_at_cap() -> str:
    """`kubectl get pods -A -o json` of a large cluster, just under the cap."""
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "shop",
                     "labels": {"app": "web", "pod-template-hash": "5d8f9c"}},
        "spec": {"hostNetwork": True,
                 "containers": [{"name": f"c{i}", "image": f"registry.example.com/app{i}:1.{i}",
                                 "env": [{"name": f"K{j}", "value": "v" * 20} for j in range(10)]}
                                for i in range(3)]},
    }
    one = json.dumps(pod)
    count = (CAP - 100) // (len(one) + 2)
    return '{"apiVersion": "v1", "kind": "List", "items": [' + ", ".join([one] * count) + "]}"


def over_cap() -> str:
    return "#" * (CAP + 1)


CASES: dict[str, tuple[str, Callable[[], str], str]] = {
    # name: (what, input, how it is given: file, json file, stdin, exceptions)
    "lol": ("billion laughs, 9 levels of 9 aliases (about 700 bytes)", billion_laughs, "file"),
    "lol-exceptions": ("two exceptions carrying that alias tree", lol_exceptions, "exceptions"),
    "deep": ("2 MB of `[` then `]` (a million levels)", deep_flow, "file"),
    "chain": ("alias chain of 5,000 levels", alias_chain, "file"),
    "real": ("real manifests (corpus real/) repeated to 64 MiB", real_at_cap, "file"),
    "nodes": ("64 MiB, one document of 16 M scalars", nodes_at_cap, "file"),
    "documents": ("64 MiB of 5.6 M tiny documents", documents_at_cap, "file"),
    "json": ("64 MiB JSON List of pods (kubectl get -o json)", json_at_cap, "json"),
    "over": ("64 MiB + 1 byte", over_cap, "file"),
    "zero": ("/dev/zero on standard input", lambda: "", "zero"),
}


def _peak_rss_kib() -> int:
    """The peak resident set size of this process (VmHWM), in KiB.

    Not `getrusage(RUSAGE_SELF).ru_maxrss`: Linux carries that over an exec from the
    forked parent, which here holds the generated input.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one(name: str, path: Path) -> None:
    """Scan one case's input in this (fresh) process and print its figures as JSON."""
    from hostns.cli import main

    how = CASES[name][2]
    base = _peak_rss_kib()
    pod = REPO / "tests/cli/fixtures/kinds/pod.yaml"
    argv = {
        "exceptions": ["scan", "-f", str(pod), "--exceptions", str(path)],
        "zero": ["scan", "-f", "-"],
    }.get(how, ["scan", "-f", str(path)])
    err = io.StringIO()
    with open("/dev/zero" if how == "zero" else os.devnull, "rb") as stdin:
        start = time.perf_counter()
        code = main(argv, stdin=stdin, stdout=io.StringIO(), stderr=err)
        seconds = time.perf_counter() - start
    peak = _peak_rss_kib()
    print(json.dumps({"exit": code, "seconds": round(seconds, 2),
                      "peak_rss_mib": round(peak / 1024), "before_mib": round(base / 1024),
                      "stderr": err.getvalue().splitlines()[:1]}))


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], Path(sys.argv[3]))
        return
    names = sys.argv[1:] or list(CASES)
    print("| case | input | size | exit | wall time | peak RSS (at start) | first line on stderr |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        what, make, how = CASES[name]
        with tempfile.TemporaryDirectory() as tmp:
            # Written by this process, scanned by a fresh one: its peak RSS is the scan's.
            path = Path(tmp) / ("input.json" if how == "json" else "input.yaml")
            path.write_text("" if how == "zero" else make())
            size = path.stat().st_size
            out = subprocess.run([sys.executable, __file__, "--one", name, str(path)],
                                 capture_output=True, text=True, check=True, timeout=1800).stdout
        r = json.loads(out)
        stderr = (r["stderr"] or [""])[0].replace(str(path), "FILE").replace("|", "\\|")
        if len(stderr) > 100:
            stderr = stderr[:100] + "..."
        shown = f"{size / MIB:.1f} MiB" if size >= MIB else f"{size:,} B"
        print(f"| {name} | {what} | {shown} | {r['exit']} | {r['seconds']} s | "
              f"{r['peak_rss_mib']} MiB ({r['before_mib']} MiB) | `{stderr}` |", flush=True)


if __name__ == "__main__":
    main()
