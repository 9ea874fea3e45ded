"""A replay's store, filled from a snapshot before anything is rated: each partition's
accounts, directory and record keys written with the store's own commit (`Store.commit`
under a claimed epoch), so the memory store and a Redis namespace are filled alike."""

from __future__ import annotations

from collections.abc import Iterable

from rater.core.state import Account
from rater.store.base import PartitionCommit, SeenChange, Store

CHUNK = 1_000  # accounts per commit (a Redis script's arguments stay small)


def seed(store: Store, accounts: Iterable[tuple[int, Account]], partitions: int) -> dict[str, str]:
    """Write (partition, account) pairs into `store`; returns the directory (MSISDN ->
    account key) for routing the replay's usage."""
    epochs: dict[int, int] = {}
    pending: dict[int, list[Account]] = {}
    directory: dict[str, str] = {}
    for p, acct in accounts:
        if p >= partitions:
            raise ValueError(f"account {acct.key}: partition {p} of {partitions}")
        if p not in epochs:
            epochs[p] = store.claim(p)
        batch = pending.setdefault(p, [])
        batch.append(acct)
        for msisdn in acct.lines:
            directory[msisdn] = acct.key
        if len(batch) >= CHUNK:
            _commit(store, p, epochs[p], batch)
            batch.clear()
    for p, batch in pending.items():
        if batch:
            _commit(store, p, epochs[p], batch)
    return directory


def _commit(store: Store, p: int, epoch: int, accounts: list[Account]) -> None:
    seen = {
        msisdn: SeenChange({day: sorted(keys) for day, keys in line.seen.items()}, ())
        for a in accounts
        for msisdn, line in a.lines.items()
        if line.seen
    }
    store.commit(
        p,
        PartitionCommit(
            epoch=epoch,
            watermark={},
            accounts={a.key: a for a in accounts},
            directory={m: a.key for a in accounts for m in a.lines},
            out=b"",
            seen=seen,
        ),
    )
