"""The in-memory account cache is bounded: past `account_cache` accounts it starts
over, and accounts are read from the store again."""

from __future__ import annotations

from collections.abc import Iterable

from rater.config import Settings
from rater.core.state import Account
from rater.stream.processor import Owned, StreamRater
from tests.unit.stream.test_batch import _subscribed


class CountingStore:
    def __init__(self, accounts: dict[str, Account]) -> None:
        self.accounts = accounts
        self.loaded: list[str] = []

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        keys = list(keys)
        self.loaded += keys
        return {k: self.accounts[k] for k in keys if k in self.accounts}


def _service(**settings: int) -> tuple[StreamRater, CountingStore, Account]:
    rater, accounts = _subscribed()
    acct = accounts["A"]
    store = CountingStore(accounts)
    svc = StreamRater(Settings(metrics_port=0, **settings), rater, store)  # type: ignore[arg-type]
    svc.owned[0] = Owned(epoch=1, watermark={}, recovered=True)
    return svc, store, acct


def test_cached_accounts_are_not_read_again_within_the_bounds() -> None:
    svc, store, _ = _service()
    svc._load(0, {"A"})
    svc._load(0, {"A", "B"})
    assert store.loaded == ["A", "B"]


def test_past_the_account_bound_the_cache_starts_over() -> None:
    svc, store, _ = _service(account_cache=1)
    svc._load(0, {"A"})
    svc._load(0, {"A", "B"})
    svc._load(0, {"A"})
    assert store.loaded == ["A", "B", "A"]
