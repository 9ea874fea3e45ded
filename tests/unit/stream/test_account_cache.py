"""The in-memory account cache is bounded by accounts and by the record ids their
duplicate sets hold (the bulk of its memory late in a cycle): past either bound it
starts over, and accounts are read from the store again."""

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
    acct.lines["A"].seen = {f"r{i}" for i in range(10)}
    store = CountingStore(accounts)
    svc = StreamRater(Settings(metrics_port=0, **settings), rater, store)  # type: ignore[arg-type]
    svc.owned[0] = Owned(epoch=1, watermark={}, recovered=True)
    return svc, store, acct


def test_cached_accounts_are_not_read_again_within_the_bounds() -> None:
    svc, store, _ = _service()
    svc._load(0, {"A"})
    svc._load(0, {"A", "B"})
    assert store.loaded == ["A", "B"]
    assert svc.owned[0].cached_ids == 10


def test_past_the_record_id_bound_the_cache_starts_over() -> None:
    svc, store, _ = _service(account_cache_ids=5)
    svc._load(0, {"A"})  # 10 ids cached: over the bound
    svc._load(0, {"A"})  # a hit: nothing missing, nothing to make room for
    svc._load(0, {"A", "B"})  # B is missing: the cache starts over (A, found, is used)
    assert store.loaded == ["A", "B"] and not svc.owned[0].accounts  # (no account B)
    assert svc.owned[0].cached_ids == 0
    svc._load(0, {"A"})  # read again
    assert store.loaded == ["A", "B", "A"]


def test_past_the_account_bound_the_cache_starts_over() -> None:
    svc, store, _ = _service(account_cache=1)
    svc._load(0, {"A"})
    svc._load(0, {"A", "B"})
    svc._load(0, {"A"})
    assert store.loaded == ["A", "B", "A"]
