"""The options of `rater replay`, checked against each other and resolved into a `Plan`
(inputs, starting state, window, issued charges, target store). Every refusal is one
line naming the option and why; nothing is read beyond headers and nothing is written
before the plan stands."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rater.config import Settings
from rater.core.engine import Rater
from rater.core.events import Event
from rater.core.inputs import Command
from rater.errors import Refused
from rater.replay import sources
from rater.replay.recording import META_KEY, is_container
from rater.replay.snapshot import Snapshot
from rater.replay.sources import Issued, Messages
from rater.store.base import Store


@dataclass
class Window:
    """[start, end) in event time (ms); None: unbounded."""

    start: int | None = None
    end: int | None = None

    def holds(self, t: int) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def events(self, events: Iterable[Event]) -> Iterator[Event]:
        for e in events:
            if self.holds(e.event_time):
                yield e


@dataclass
class Plan:
    """What to replay: every option of `rater replay`, resolved."""

    rater: Rater
    out_dir: Path
    settings: Settings
    messages: Messages | None = None  # recorded messages (a recording, the topics), or
    usage_file: Path | None = None  # a usage file (JSON lines or a usage Avro container)
    commands: list[Command] = field(default_factory=list)  # from --subscribers
    state: Snapshot | None = None
    window: Window = field(default_factory=Window)
    until: int | None = None
    issued: Issued | None = None
    # a fresh target store per attempt (None: the replay's own memory)
    target: Callable[[], Store] | None = None
    progress: bool = True
    chunk: int = 5_000
    workers: int = 0  # processes sharing the partitions (0: offline_workers' rule)


@dataclass
class Options:
    """`rater replay`'s options as given."""

    out_dir: Path
    input_file: Path | None = None
    topics: bool = False
    commands: list[Command] | None = None  # --subscribers, already read
    state: Path | None = None
    window: Window = field(default_factory=Window)
    until: int | None = None
    issued: Path | None = None
    issued_topic: str | None = None
    store: str = "memory"
    namespace: str | None = None
    fresh: bool = False
    workers: int | None = None  # --workers (None: the offline_workers setting)


def build(s: Settings, rater: Rater, o: Options) -> Plan:
    """The plan, or `Refused` naming the option that cannot be used."""
    if (o.input_file is None) == (not o.topics):
        raise Refused("give the input: --input FILE or --topics (one of them)")
    if o.commands is not None and o.state is not None:
        raise Refused("--subscribers and --state: start from one of them")
    if o.issued is not None and o.issued_topic is not None:
        raise Refused("--issued and --issued-topic: give the issued charges once")
    w = o.window
    if w.start is not None and w.end is not None and w.start >= w.end:
        raise Refused("--from must be before --to")
    if o.out_dir.exists() and not o.out_dir.is_dir():
        raise Refused(f"--out {o.out_dir}: a file, not a folder")
    state = Snapshot(o.state) if o.state is not None else None
    plan = Plan(
        rater,
        o.out_dir,
        s,
        commands=o.commands or [],
        state=state,
        window=w,
        until=o.until,
        workers=s.offline_workers if o.workers is None else o.workers,
    )
    if o.topics:
        _refuse_framed(s, "--topics")
        plan.messages = sources.from_topics(s, state.header.watermarks if state else None)
    else:
        _inputs_from_file(s, plan, o)
    if o.issued is not None:
        plan.issued = sources.issued_file(s, o.issued)
    elif o.issued_topic is not None:
        plan.issued = sources.issued_topic(s, o.issued_topic)
    plan.target = _target(s, o)
    return plan


def _inputs_from_file(s: Settings, plan: Plan, o: Options) -> None:
    path = o.input_file
    assert path is not None
    if not path.is_file():
        raise Refused(f"--input {path}: " + ("a directory" if path.is_dir() else "no such file"))
    if is_container(path) and _is_recording(path):
        _refuse_framed(s, f"--input {path}")
        plan.messages = sources.from_recording(path)
        return
    if o.commands is None and o.state is None:
        raise Refused(
            f"--input {path}: a usage file holds no subscribers; give --subscribers or --state"
        )
    plan.usage_file = path


def _is_recording(path: Path) -> bool:
    import fastavro

    try:
        with path.open("rb") as f:
            return META_KEY in fastavro.reader(f).metadata
    except Exception:  # not readable as a container: read_usage says why, line by line
        return False


def _refuse_framed(s: Settings, what: str) -> None:
    if s.schema_registry_url:
        raise Refused(
            f"{what}: messages in the schema registry's wire format are not replayed yet "
            "(schema_registry_url is set); replay a usage file instead"
        )


def _target(s: Settings, o: Options) -> Callable[[], Store] | None:
    """The store to rate into: the replay's memory, or a Redis namespace of its own
    (emptied before each attempt)."""
    if o.store == "memory":
        if o.namespace is not None or o.fresh:
            raise Refused("--namespace and --fresh go with --store redis")
        return None
    if o.store != "redis":
        raise Refused(f"--store {o.store}: memory or redis")
    if not o.namespace:
        raise Refused("--store redis needs --namespace NS (a namespace of the replay's own)")
    from rater.store.redis import RedisStore, settings_client
    from rater.stream.tools import delete_namespace

    client = settings_client(s)
    ns = o.namespace
    sources.refuse_live_namespace(s, ns, client, o.fresh)

    def fresh() -> Store:
        delete_namespace(client, ns)
        return RedisStore(client, ns)

    return fresh
