"""Retries with exponential backoff for remote writes that may fail for a while.

A backend raises `Transient` for what may pass (a dropped connection, a
timeout, a 5xx, rate limiting) and `EvalkitError` for what will not (a
wrong key, a missing table, a rejected row). Every write the sync retries
is an idempotent upsert, so repeating one whose answer was lost is safe.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from evalkit.errors import EvalkitError

T = TypeVar("T")
BACKOFF_VAR = "EVALKIT_SYNC_BACKOFF"  # first delay in seconds; tests set it small


class Transient(Exception):
    """A failure worth retrying; its message is one line, already free of secrets."""


class BatchRejected(EvalkitError):
    """The remote refused one batch for its content: the run stays queued, the sync goes on with the next run."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        value = os.environ.get(BACKOFF_VAR)
        try:
            return cls(first_delay=float(value)) if value else cls()
        except ValueError:
            raise EvalkitError(BACKOFF_VAR, f"is not a number of seconds: {value!r}") from None

    def delays(self) -> list[float]:
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(self.attempts - 1)]


def with_retries(action: Callable[[], T], policy: RetryPolicy, where: str) -> T:
    """Run `action`; on `Transient`, wait and try again; after the last try, a one-line `EvalkitError`."""
    for delay in [*policy.delays(), None]:
        try:
            return action()
        except Transient as exc:
            if delay is None:
                raise EvalkitError(where, f"failed after {policy.attempts} tries: {exc}") from None
            time.sleep(delay)
    raise AssertionError("unreachable")
