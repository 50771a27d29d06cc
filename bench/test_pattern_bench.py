"""Wildcard matching time against image length, for the worst patterns.

`a*a*a*a*a*b` against `aaaa…a` is the classic case for a backtracking regular
expression: every split of the run among the five stars is tried before the
final `b` fails, so the time grows like the length to the fifth power. The old
matcher compiled each `*` to `[^/]*` and used `re.fullmatch`; any pod creator
could freeze the operator's event loop with a long image name where an
administrator wrote such a pattern. The new matcher (hostns.images.Glob) finds
each literal piece at its leftmost place and never backtracks.

Figures are printed (bench/README.md keeps them) and the assertions hold the
claims: the new matcher is linear (x10 the text costs less than x30 the time)
and far below the old one (not a flaky micro-benchmark: x30 of slack).

Run: make bench   (or .venv/bin/python -m pytest bench/test_pattern_bench.py -s)
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from hostns.images import Glob, parse_image, parse_pattern

WORST = "a*a*a*a*a*b"
MANY = "*a*" * 20 + "b"  # 41 stars, 20 pieces
SCAN = "a*" + "a" * 16 + "b*b"  # the middle piece is searched across the whole text
PATTERN = parse_pattern(f"ghcr.io/acme/{WORST}:*")


def _old_regex(glob: str) -> re.Pattern[str]:
    """The matcher before this change: each `*` became `[^/]*`."""
    return re.compile("".join("[^/]*" if c == "*" else re.escape(c) for c in glob))


def _seconds(function: Any, repeat: int, runs: int = 3) -> float:
    """Best of `runs` runs of `repeat` calls, per call."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


@pytest.mark.parametrize("length", [16, 64, 250])
def test_bench_pattern_matches_worst_case(benchmark: Any, length: int) -> None:
    # 250: the longest repository component the grammar allows (255 minus "acme/").
    image = parse_image("ghcr.io/acme/" + "a" * length + ":v1")
    assert benchmark(PATTERN.matches, image, None) is False


def test_bench_old_regex_against_new_glob() -> None:
    # Only WORST: the old regex on MANY takes over a minute for 22 characters.
    old, new = _old_regex(WORST), Glob.compile(WORST)
    rows = []
    for length in (16, 32, 64, 128):
        text = "a" * length
        old_s = _seconds(lambda: old.fullmatch(text), 1, runs=1)  # noqa: B023
        new_s = _seconds(lambda: new.matches(text), 1000)  # noqa: B023
        rows.append((length, old_s, new_s))
    print(f"\n{WORST} against a run of a: length | old regex | new glob")
    for length, old_s, new_s in rows:
        print(f"{length} | {old_s * 1e6:,.0f} us | {new_s * 1e6:.2f} us")
    _, old_128, new_128 = rows[-1]
    assert old_128 > 1000 * new_128  # the backtracking regex is what this change removes


def test_bench_new_glob_is_linear_in_the_text() -> None:
    # Cases where the new matcher does the most work: a full search for a piece
    # that is not there (SCAN), a match found piece by piece (WORST, MANY on a
    # text ending in b), and the regex's worst input (fails at the suffix check).
    cases = [
        (WORST, "", "a"), (WORST, "b", "a"), (MANY, "b", "a"), (SCAN, "b", "a"),
    ]
    print("\npattern | text | 1,000 chars | 10,000 | 100,000")
    for glob, end, fill in cases:
        matcher = Glob.compile(glob)
        times = {}
        for length in (1_000, 10_000, 100_000):
            text = fill * (length - len(end)) + end
            times[length] = _seconds(lambda: matcher.matches(text), 20, runs=5)  # noqa: B023
        label = f"{fill}...{fill}{end}"
        print(f"{glob} | {label} | " + " | ".join(f"{t * 1e6:,.1f} us" for t in times.values()))
        # x10 text: about x10 time (x30 allows for a loaded machine), not x100 or worse
        assert times[100_000] < 30 * max(times[10_000], 1e-6)
