"""The three detection rules this operator implements, one per host namespace.

They mirror Elastic's prebuilt rules "Kubernetes Pod Created With HostNetwork /
HostPID / HostIPC": medium severity, risk score 47, MITRE ATT&CK Privilege
Escalation (T1611 Escape to Host) and Execution (T1610 Deploy Container).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HOST_NETWORK: Final = "hostNetwork"
HOST_PID: Final = "hostPID"
HOST_IPC: Final = "hostIPC"

#: Every flag, in the order they are reported.
FLAGS: Final[tuple[str, ...]] = (HOST_NETWORK, HOST_PID, HOST_IPC)

SEVERITY_ORDER: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Mitre:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Rule:
    flag: str
    name: str
    severity: str
    risk_score: int
    tactics: tuple[Mitre, ...]
    techniques: tuple[Mitre, ...]


_TACTICS = (Mitre("TA0004", "Privilege Escalation"), Mitre("TA0002", "Execution"))
_TECHNIQUES = (Mitre("T1611", "Escape to Host"), Mitre("T1610", "Deploy Container"))

RULES: Final[dict[str, Rule]] = {
    flag: Rule(
        flag=flag,
        name=f"Kubernetes Pod Created With {title}",
        severity="medium",
        risk_score=47,
        tactics=_TACTICS,
        techniques=_TECHNIQUES,
    )
    for flag, title in ((HOST_NETWORK, "HostNetwork"), (HOST_PID, "HostPID"), (HOST_IPC, "HostIPC"))
}


def ordered(flags: frozenset[str] | set[str]) -> tuple[str, ...]:
    """Flags in their canonical order, for stable output."""
    return tuple([flag for flag in FLAGS if flag in flags])


def highest_severity(flags: frozenset[str] | set[str]) -> str | None:
    severities = [RULES[flag].severity for flag in flags]
    if not severities:
        return None
    return max(severities, key=SEVERITY_ORDER.index)
