"""Status conditions, kept the one way: `set_condition` (kubebuilder's SetStatusCondition).

A condition's `lastTransitionTime` says since when it has held. It is kept while the
condition's status and reason stay the same, and set to `now` when either changes:
our reasons name states (Expired, Invalid; AllExcepted, NoLivePods), so a new reason
is a transition even when the status stays False.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def set_condition(
    existing: Sequence[Mapping[str, Any]] | None, condition: Mapping[str, Any], now: str
) -> list[dict[str, Any]]:
    """`existing` with `condition` set (by type), its lastTransitionTime kept or `now`."""
    result = [dict(c) for c in existing or () if isinstance(c, Mapping)]
    new = dict(condition)
    for index, old in enumerate(result):
        if old.get("type") != new.get("type"):
            continue
        same = (old.get("status"), old.get("reason")) == (new.get("status"), new.get("reason"))
        kept = old.get("lastTransitionTime") if same else None
        new["lastTransitionTime"] = kept or new.get("lastTransitionTime") or now
        result[index] = new
        return result
    new.setdefault("lastTransitionTime", now)
    result.append(new)
    return result
