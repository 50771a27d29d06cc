"""Aligned text columns, as `kubectl get` prints them: one way for every table we print."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def aligned(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The header and rows, each column padded to its widest cell but the last one."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "".join(
        "   ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                    row[-1]]) + "\n"
        for row in table
    )
