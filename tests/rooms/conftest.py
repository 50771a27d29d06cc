"""Fixtures shared by the room tests."""

from __future__ import annotations

import pytest

import hostns.live.podwatch


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod watch retries after 10 ms instead of its real back-off (0.5 s to 30 s)."""

    class Quick(hostns.live.podwatch.Backoff):
        def next_delay(self) -> float:
            self.attempts += 1
            return 0.01

    monkeypatch.setattr(hostns.live.podwatch, "Backoff", Quick)
