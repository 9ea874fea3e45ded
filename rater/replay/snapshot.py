"""`rater snapshot`: the state of all (or chosen) subscribers, read from Redis into a
file a replay can start from (docs/replay.md, "The snapshot").

The file is JSON lines. The first line is the header (`Header`): format and version,
the Redis namespace, the partition count and input topics, each partition's watermark
(the next offset to apply per input topic: the snapshot holds every input below it and
none above), when it was taken, `at` and how long it took. Every other line is one
account in the state's own form, `Account.to_dict()` (lines, buckets, counters and the
record keys each line has seen, for the duplicate check); its partition is the one
routing gives its key.

Read only: nothing is written to Redis. A partition is read whole between two reads of
its watermark; if the live rater committed in between, the partition is read again, so
each partition's accounts and watermark belong together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import orjson

from rater.core.cycles import from_ms
from rater.core.state import Account
from rater.errors import Refused
from rater.routing import partition_of
from rater.store.redis import RedisStore

FORMAT: Final = "rater-snapshot"
VERSION: Final = 1
READS: Final = 5  # attempts at a partition whose watermark moves while it is read


class SnapshotError(ValueError):
    """A snapshot file that cannot be used: one line naming the file (and line)."""


@dataclass
class Header:
    """The first line of a snapshot."""

    namespace: str
    partitions: int
    topics: dict[str, str]  # "usage" / "commands" -> topic name
    watermarks: dict[int, dict[str, int]]  # partition -> topic -> next offset to apply
    taken_at: int  # wall clock, epoch ms, when reading started
    at: int | None = None  # --at: no account holds an input after this time
    seconds: float = 0.0
    accounts: int = 0
    msisdns: list[str] | None = None  # the selection, or None for everyone
    latest_clock: int = 0  # the latest event time any account has applied
    format: str = FORMAT
    version: int = VERSION

    def to_line(self) -> bytes:
        d = asdict(self)
        d["watermarks"] = {str(p): wm for p, wm in sorted(self.watermarks.items())}
        return orjson.dumps(d, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_line(cls, raw: bytes, source: str) -> Header:
        try:
            d = orjson.loads(raw)
            if not isinstance(d, dict) or d.get("format") != FORMAT:
                raise SnapshotError(f"{source}:1: not a rater snapshot header")
            if d.get("version") != VERSION:
                raise SnapshotError(
                    f"{source}:1: snapshot version {d.get('version')!r}, this rater reads "
                    f"version {VERSION}"
                )
            d["watermarks"] = {int(p): dict(wm) for p, wm in d["watermarks"].items()}
            return cls(**d)
        except SnapshotError:
            raise
        except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, AttributeError) as e:
            raise SnapshotError(f"{source}:1: unreadable snapshot header: {e}") from None


@dataclass
class Snapshot:
    """A snapshot file: its header, and its accounts read one at a time."""

    path: Path
    header: Header = field(init=False)

    def __post_init__(self) -> None:
        try:
            with self.path.open("rb") as f:
                first = f.readline()
        except OSError as e:
            raise SnapshotError(f"{self.path}: cannot read: {e.strerror}") from None
        self.header = Header.from_line(first, str(self.path))

    def accounts(self) -> Iterator[tuple[int, Account]]:
        """(partition, account) for every account line."""
        n_parts = self.header.partitions
        with self.path.open("rb") as f:
            f.readline()
            for n, raw in enumerate(f, start=2):
                if not raw.strip():
                    continue
                try:
                    acct = Account.from_dict(orjson.loads(raw))
                except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as e:
                    raise SnapshotError(f"{self.path}:{n}: not an account: {e}") from None
                yield partition_of(acct.key.encode(), n_parts), acct


def iso(t: int) -> str:
    """A time for a message: ISO-8601 in UTC."""
    return from_ms(t, 0)


def _chosen(store: RedisStore, partitions: int, msisdns: list[str]) -> dict[int, set[str]]:
    """Partition -> account keys holding the chosen lines; an unknown line is refused."""
    out: dict[int, set[str]] = {}
    for m in msisdns:
        found = store.find_account(m, partitions)
        if found is None:
            raise Refused(f"--msisdn {m}: no such subscriber in Redis namespace {store.ns}")
        out.setdefault(found[0], set()).add(found[1])
    return out


def _read_partition(
    store: RedisStore, p: int, keys: list[str] | None
) -> tuple[dict[str, int], dict[str, Account]]:
    """A partition's watermark and accounts, read again while the watermark moves."""
    for _ in range(READS):
        before, _ = store.watermark(p)
        wanted = store.account_keys(p) if keys is None else keys
        accounts = store.load(p, wanted, with_seen=True)
        after, _ = store.watermark(p)
        if before == after:
            return before, accounts
    raise Refused(
        f"partition {p} of Redis namespace {store.ns} changed during each of {READS} reads: "
        "the rater is busy; snapshot chosen subscribers (--msisdn), or when it is idle"
    )


def take(
    store: RedisStore,
    partitions: int,
    topics: dict[str, str],
    out: Path,
    at: int | None = None,
    msisdns: list[str] | None = None,
) -> Header:
    """Write the snapshot of a Redis namespace to `out` and return its header (see
    `write`)."""
    header = Header(
        namespace=store.ns,
        partitions=partitions,
        topics=topics,
        watermarks={},
        taken_at=int(time.time() * 1000),
        at=at,
        msisdns=sorted(msisdns) if msisdns else None,
    )
    chosen = _chosen(store, partitions, msisdns) if msisdns else None

    def parts() -> Iterator[tuple[int, dict[str, int], dict[str, Account]]]:
        for p in range(partitions):
            keys = None if chosen is None else sorted(chosen.get(p, ()))
            yield (p, *_read_partition(store, p, keys))

    return write(out, header, parts())


def write(
    out: Path,
    header: Header,
    parts: Iterable[tuple[int, dict[str, int], dict[str, Account]]],
) -> Header:
    """Write (partition, watermark, accounts) as a snapshot to `out` (through a file next
    to it, renamed when complete: a failed snapshot leaves no file). With `header.at`,
    refused if any account has applied an input later than that time: the live state
    cannot be taken back in time. Changes due before `at` that nothing has triggered yet
    (a daily fee, a new cycle) stay due: a replay applies them at their time and shows
    their charges, rather than the snapshot hiding them."""
    t0 = time.monotonic()
    at = header.at
    body = out.with_name(out.name + ".part")
    try:
        with body.open("wb") as f:
            for p, wm, accounts in parts:
                header.watermarks[p] = wm
                for key in sorted(accounts):
                    acct = accounts[key]
                    if at is not None and acct.clock > at:
                        raise Refused(
                            f"--at {iso(at)}: account {key} has applied inputs up to "
                            f"{iso(acct.clock)}, after that time; the live state cannot be "
                            "taken back in time (snapshot earlier, or replay from an "
                            "earlier snapshot)"
                        )
                    header.latest_clock = max(header.latest_clock, acct.clock)
                    header.accounts += 1
                    f.write(orjson.dumps(acct.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        header.seconds = round(time.monotonic() - t0, 3)
        tmp = out.with_name(out.name + ".tmp")
        with tmp.open("wb") as dst, body.open("rb") as src:
            dst.write(header.to_line())
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(out)
    finally:
        body.unlink(missing_ok=True)
    return header
