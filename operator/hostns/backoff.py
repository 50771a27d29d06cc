"""Bounded exponential back-off with jitter, for retries against the API server."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    first: float = 0.5
    limit: float = 30.0
    attempts: int = 0

    def next_delay(self) -> float:
        """The next wait: doubling from `first` up to `limit`, ±20% so replicas spread out."""
        delay: float = min(self.first * 2.0**self.attempts, self.limit)
        self.attempts += 1
        jitter: float = random.uniform(0.8, 1.2)
        return delay * jitter

    def reset(self) -> None:
        self.attempts = 0
