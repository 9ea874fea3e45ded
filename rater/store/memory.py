"""In-memory state store: accounts by key and a directory from MSISDN to account.

Used by the offline simulator, replay and unit tests; the Redis store keeps the same
two things per partition.
"""

from __future__ import annotations

from collections.abc import Iterator

from rater.core.engine import Outcome, Rater
from rater.core.inputs import Command, NewSubscriber, Tick, UsageRecord
from rater.core.state import Account


class MemoryStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.directory: dict[str, str] = {}  # msisdn -> account key

    def account_key(self, item: UsageRecord | Command) -> str:
        if isinstance(item, NewSubscriber):
            return Rater.routing_key(item)
        return self.directory.get(item.msisdn, item.msisdn)

    def apply(self, rater: Rater, item: UsageRecord | Command) -> Outcome:
        """Route one input to its account, rate it, keep the result."""
        key = self.account_key(item)
        outcome = rater.apply(self.accounts.get(key), item)
        if outcome.account is not None and isinstance(item, NewSubscriber):
            self.accounts[key] = outcome.account
            self.directory[item.msisdn] = key
        return outcome

    def tick(self, rater: Rater, tick: Tick) -> Iterator[Outcome]:
        """Advance every account to the tick's time, in key order (deterministic)."""
        for key in sorted(self.accounts):
            yield rater.apply(self.accounts[key], tick)
