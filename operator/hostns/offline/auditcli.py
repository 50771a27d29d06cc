"""`hostns audit`: who wrote host-namespace pods, from Kubernetes audit logs.

The shell around `audit` (the judge) and `auditlog` (the reader). Results are
written as they are found for `-o json` and `-o ndjson`, so memory stays
constant however long the log; the table needs its column widths, so it holds
the listed results (host-namespace writes and attempts, not the whole log).
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any, Final

from hostns.offline.audit import LISTED, AuditResult, ExceptionTimeline, Tally, Verdict, audit
from hostns.offline.auditlog import STDIN, AuditLogReader, BadLine, InputError, ReadStats
from hostns.offline.columns import aligned
from hostns.offline.manifests import ManifestError, read_manifests
from hostns.offline.scan import compile_exceptions

EXIT_OK, EXIT_FAILING, EXIT_ERROR = 0, 1, 2
MAX_BAD_LINES_SHOWN: Final = 20

_EPILOG = """\
exit status: 0 nothing listed needs action, 1 some Violation, Denied or Rejected request,
2 bad usage, unreadable input, or (with no result that exits 1) some unreadable line.
examples:
  hostns audit -f /var/log/kubernetes/audit/ --exceptions policy/
  zcat audit-*.log.gz | hostns audit -f - -o ndjson
  hostns audit -f elastic-export.ndjson -o json
"""


class UsageError(Exception):
    """Bad usage or input that cannot be read at all: one line, exit status 2."""


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "audit", parents=parents,
        help="judge Kubernetes audit logs: who wrote host-namespace pods (exit 1 on a finding)",
        description="Read Kubernetes audit events (log backend lines, webhook EventList bodies, "
        "rotated .gz files,\nElastic kubernetes.audit documents) and judge every pod and workload "
        "write with the\noperator's engine against HostNamespaceException policy, at each event's "
        "time.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-f", "--filename", action="append", dest="paths", metavar="PATH", default=[],
        help="audit log file (.gz too), directory (every file, sorted), or - for standard "
        "input; repeatable, at least one required",
    )
    parser.add_argument(
        "--exceptions", action="append", dest="exception_paths", metavar="PATH", default=[],
        help="file or directory of HostNamespaceException documents (repeatable)",
    )
    parser.add_argument(
        "-o", "--output", choices=("table", "json", "ndjson"), default="table",
        help="output format (default: table); json and ndjson stream as they go",
    )


def _binary_stdin(stdin: IO[bytes] | IO[str]) -> IO[bytes]:
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    if isinstance(stdin, io.TextIOBase):
        return io.BytesIO(stdin.read().encode())  # an in-memory text stream (tests)
    return stdin  # type: ignore[return-value]  # already bytes


def run(
    args: argparse.Namespace, stdin: IO[bytes] | IO[str], stdout: IO[str], stderr: IO[str]
) -> int:
    if not args.paths:
        raise UsageError("no input: give -f PATH (a file or directory), or -f - for stdin")
    if [*args.paths, *args.exception_paths].count(STDIN) > 1:
        raise UsageError("standard input (-) can be read only once")
    try:
        policy = compile_exceptions(
            read_manifests(args.exception_paths, stdin), datetime.now(UTC)
        )
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    if policy.errors:  # a policy repository with a bad exception fails, as in scan
        raise UsageError(policy.errors[0])
    compiled = policy.exceptions
    bad = _BadLines(stderr)
    reader = AuditLogReader(
        _binary_stdin(stdin) if STDIN in args.paths else None, on_bad=bad.report
    )
    tally = Tally()
    try:
        results = audit(reader.read(args.paths), ExceptionTimeline(compiled), tally)
        if args.output == "json":
            _write_json(results, stdout)
        elif args.output == "ndjson":
            for result in results:
                stdout.write(json.dumps(result.to_json()) + "\n")
        else:
            listed = list(results)
            if listed:
                stdout.write(format_table(listed))
    except InputError as exc:
        raise UsageError(str(exc)) from None
    stdout.flush()
    bad.finish()
    print(f"hostns audit: {summary(tally, reader.stats)}", file=stderr)
    if tally.failing:
        return EXIT_FAILING
    return EXIT_ERROR if reader.stats.bad else EXIT_OK


def _write_json(results: Iterable[AuditResult], stdout: IO[str]) -> None:
    """A JSON array written one element at a time (constant memory)."""
    stdout.write("[")
    first = True
    for result in results:
        stdout.write("\n" if first else ",\n")
        stdout.write(json.dumps(result.to_json(), indent=2))
        first = False
    stdout.write("]\n" if first else "\n]\n")


class _BadLines:
    """Bad lines on stderr, one each, up to a cap; the rest only counted."""

    def __init__(self, stderr: IO[str]) -> None:
        self.stderr, self.count = stderr, 0

    def report(self, bad: BadLine) -> None:
        self.count += 1
        if self.count <= MAX_BAD_LINES_SHOWN:
            print(f"hostns audit: bad line: {bad}", file=self.stderr)

    def finish(self) -> None:
        hidden = self.count - MAX_BAD_LINES_SHOWN
        if hidden > 0:
            print(f"hostns audit: ... and {hidden} more bad lines", file=self.stderr)


def summary(tally: Tally, stats: ReadStats) -> str:
    counts = ", ".join(f"{tally.verdicts[str(v)]} {v}" for v in LISTED)
    quiet = tally.verdicts[str(Verdict.COMPLIANT)]
    text = (
        f"{stats.lines} lines, {tally.judged} pod/workload writes judged: {counts}; {quiet} "
        "not listed (no host namespace, or a failed write that would not violate)"
    )
    dry_runs = tally.verdicts[str(Verdict.DRY_RUN)]
    if dry_runs:
        text += f"; {dry_runs} server-side dry runs (dryRun=All) not listed: nothing was written"
    if tally.duplicates:
        text += f"; {tally.duplicates} repeated auditIDs counted once"
    if stats.bad:
        text += f"; {stats.bad} bad lines"
    return text


TABLE_HEADER: Final = (
    "TIME", "VERDICT", "USER", "VERB", "KIND", "NAMESPACE", "NAME", "HOST-NAMESPACES",
    "UNCOVERED",
)


def _row(result: AuditResult) -> tuple[str, ...]:
    data = result.to_json()
    user = data["user"]["username"] or "?"
    if data["impersonatedUser"] is not None:
        user = f"{user} (as {data['impersonatedUser']['username'] or '?'})"
    verb = data["verb"] or "?"
    if data["subresource"]:
        verb = f"{verb} {data['subresource']}"
    flags = result.host_namespaces
    uncovered = ", ".join(
        f"{item['image']} ({','.join(item['hostNamespaces'])})" for item in data["uncovered"]
    )
    return (
        data["time"] or "?", str(result.verdict), user, verb, result.kind,
        result.namespace or "-", result.name or "-",
        "?" if flags is None else ",".join(flags), uncovered or "-",
    )


def format_table(results: Iterable[AuditResult]) -> str:
    """Aligned columns, like `kubectl get`; the last column is not padded."""
    return aligned(TABLE_HEADER, (_row(result) for result in results))
