"""The `rater` command line: thin; parse, build config, call one function."""

from __future__ import annotations

import shutil
import sys
import tempfile
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from rater.catalog import CatalogError, load_catalog
from rater.core.cycles import to_ms
from rater.report import ReportKind
from rater.stream.deadletters import deadletters_app
from rater.subscribers import SubscribersError, load_subscribers, to_commands

if TYPE_CHECKING:
    from rater.config import Settings
    from rater.core.inputs import Command, Tick
    from rater.progress import Progress


def _metavar(p: TyperOption) -> str:
    """A plain metavar for help: FILE, TIME, N, ... never a type placeholder."""
    name = (p.name or "").lower()
    desc = p.type_descriptor
    ann = desc.annotation
    if desc.is_list:
        ann = next(iter(getattr(ann, "__args__", ())), str)
    if desc.choices is not None:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if name in ("until", "since", "at"):
        return "TIME"
    if name.endswith("seconds"):
        return "SECONDS"
    if desc.is_path:
        return "FILE"
    if ann is int:
        return "N"
    if ann is float:
        return "NUMBER"
    return {"log_level": "LEVEL", "msisdn": "MSISDN"}.get(name, "TEXT")


def _constant(value: Any, ctx: Any) -> Any:
    return value


def _tidy(cmd: Any) -> None:
    """Help text without type placeholders (`<bool>`, `<path>`, `{msisdn}`): flags show
    none, other options a plain metavar, arguments their name in capitals."""
    for p in cmd.params:
        if isinstance(p, TyperOption):
            if p.is_flag:
                p.metavar = ""
            elif p.metavar is None:
                p.metavar = _metavar(p)
        elif isinstance(p, TyperArgument):
            if p.metavar is None:
                p.metavar = (p.name or "arg").upper()
            shown = p.metavar if p.required else f"[{p.metavar}]"
            p.get_usage_pieces = partial(_constant, [shown])  # type: ignore[method-assign]
            p.display_type_rich = partial(_constant, "")  # type: ignore[method-assign]
    original = cmd.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = original(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = help_option
    for sub in getattr(cmd, "commands", {}).values():
        _tidy(sub)


class _TidyGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    help="rater: usage rating for mobile operators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_TidyGroup,
    context_settings=HELP_OPTIONS,
)
bench_app = typer.Typer(help="Benchmarks (figures, not pass/fail).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(deadletters_app, name="deadletters")

CatalogOpt = Annotated[Path, typer.Option("--catalog", help="catalog YAML file")]
SubsOpt = Annotated[Path, typer.Option("--subscribers", help="subscribers YAML file")]


def example_catalog(name: str = "catalog-full.yaml") -> Path:
    """An example catalog wherever rater runs from: shipped in the package
    (rater/examples/) or in the repo the package lives in (examples/), else relative to
    the current folder."""
    here = Path(__file__).resolve().parent
    for folder in (here / "examples", here.parent / "examples"):
        if (folder / name).is_file():
            return folder / name
    return Path("examples") / name


BenchCatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="catalog YAML file (default: the example catalog-full.yaml)"),
]
SubscriberCountOpt = Annotated[
    int, typer.Option("--subscriber-count", help="synthetic subscribers")
]


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _time(value: str | None, option: str = "--until") -> int | None:
    """A time option: ISO-8601 with a UTC offset; without one it is refused, not guessed."""
    if value is None:
        return None
    try:
        return to_ms(value)
    except ValueError:
        _fail(
            f"{option}: {value!r} is not an ISO-8601 time with a UTC offset "
            "(e.g. 2026-05-01T00:00:00+08:00)"
        )
    return None


@app.command()
def simulate(
    catalog: CatalogOpt,
    subscribers: SubsOpt,
    usage: Annotated[Path, typer.Option("--usage", help="usage: JSON lines or Avro container")],
    commands: Annotated[
        Path | None,
        typer.Option("--commands", help="more commands, JSON lines (applied at their time)"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="tick the clock to this time, ISO-8601 with a UTC offset (with the usage, by time)"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="events file (default stdout)")] = None,
    dead_letters: Annotated[
        Path | None, typer.Option("--dead-letters", help="dead letters file (JSON lines)")
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(min=1, help="partitions of the input topics to emulate (default: config)"),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Rate files offline as the stream would: same checks, same order, same events.
    No Kafka, no Redis. Events as JSON lines."""
    from rater.core.engine import Rater
    from rater.jobs.offline import CommandsError, in_time_order, read_commands
    from rater.jobs.offline import simulate as run_sim

    s = _settings(config)
    _refuse_bad_inputs(catalog, subscribers, commands)
    try:
        cat = load_catalog(catalog)
        cmds: list[Command | Tick] = list(to_commands(load_subscribers(subscribers)))
        if commands is not None:
            cmds = in_time_order(cmds, read_commands(commands))
    except (CatalogError, SubscribersError, CommandsError) as e:
        _fail(str(e))
    if not usage.is_file():
        _fail(
            f"--usage {usage}: " + ("a directory, not a file" if usage.is_dir() else "no such file")
        )
    # a file, rewindable: a run starts over if the core raises on an input (a bug)
    sink: IO[bytes] = out.open("wb") if out else tempfile.TemporaryFile()  # noqa: SIM115
    dead = dead_letters.open("wb") if dead_letters else None
    try:
        summary, _ = run_sim(
            Rater(cat, s.duplicate_window_ms),
            cmds,
            usage,
            _time(until),
            sink,
            dead,
            partitions=partitions or s.partitions,
            topics=s.topics,
            max_future_ms=s.max_future_ms,
            gc_gen0_threshold=s.gc_gen0_threshold,
        )
        if not out:
            sink.seek(0)
            shutil.copyfileobj(sink, sys.stdout.buffer)
    finally:
        sink.close()
        if dead is not None:
            dead.close()
    typer.echo(summary.text(), err=True)


@app.command()
def check(
    catalog: CatalogOpt,
    subscribers: SubsOpt,
    usage: Annotated[
        Path | None, typer.Option("--usage", help="usage: JSON lines or Avro container")
    ] = None,
    commands: Annotated[
        Path | None, typer.Option("--commands", help="more commands, JSON lines")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check the input files against each other: every problem with its file and line,
    exit 1 if there is any."""
    from rater.check import check_files, format_problems, summary_line

    s = _settings(config)
    problems = check_files(catalog, subscribers, usage, commands, max_future_ms=s.max_future_ms)
    if problems:
        typer.echo(format_problems(problems), err=True)
        typer.echo(summary_line(problems), err=True)
        raise typer.Exit(1)
    checked = [str(p) for p in (catalog, subscribers, commands, usage) if p is not None]
    typer.echo(f"ok: {', '.join(checked)}")


def _refuse_bad_inputs(catalog: Path, subscribers: Path, commands: Path | None = None) -> None:
    """`rater check` of the catalog, subscribers and commands files (not the usage: its
    bad records are dead-lettered by design); exit 2 with every problem if any."""
    from rater.check import check_files, format_problems, summary_line

    problems = check_files(catalog, subscribers, commands_path=commands)
    if problems:
        _fail(f"{summary_line(problems)}:\n{format_problems(problems)}")


@bench_app.command("core")
def bench_core(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 2_000,
    records: Annotated[int, typer.Option(help="synthetic usage records")] = 300_000,
    profile: Annotated[bool, typer.Option(help="print a cProfile of the rating loop")] = False,
) -> None:
    """Records per second of the rating core alone, one process."""
    from rater.bench import core as bench

    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        _fail(str(e))
    typer.echo(bench.run(cat, subscribers, records, profile))


@bench_app.command("simulate")
def bench_simulate(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 50_000,
    records: Annotated[int, typer.Option(help="synthetic usage records")] = 1_000_000,
) -> None:
    """`rater simulate` on a large file against the rating core alone; peak memory."""
    from rater.bench import simulate as bench

    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        _fail(str(e))
    typer.echo(bench.run(catalog, cat, subscribers, records))


@bench_app.command("replay")
def bench_replay(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 50_000,
    records: Annotated[int, typer.Option(help="recorded usage records")] = 1_000_000,
) -> None:
    """`rater replay` of a recording (memory store) against the rating core alone; peak
    memory."""
    from rater.bench import replay as bench

    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        _fail(str(e))
    typer.echo(bench.run(catalog, cat, subscribers, records))


@bench_app.command("state")
def bench_state(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 200,
    days: Annotated[int, typer.Option(min=1, help="days of usage: the cycle so far")] = 30,
    records_per_day: Annotated[int, typer.Option(min=1, help="records a day per subscriber")] = 100,
    window_hours: Annotated[
        int | None, typer.Option(min=1, help="duplicate window (default: config)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Redis bytes per subscriber at the end of a cycle rated through the real store
    (a sample of subscribers; every key of the state counted)."""
    from rater.bench import state as bench

    s = _settings(config)
    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        _fail(str(e))
    window = window_hours or s.duplicate_window_hours
    typer.echo(
        bench.run(
            cat,
            s.redis_url.get_secret_value(),
            subscribers,
            days,
            records_per_day,
            window,
            s.partitions,
            s.redis_cluster,
        )
    )


@bench_app.command("stream")
def bench_stream(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 2_000,
    records: Annotated[int, typer.Option(help="usage records for the throughput phase")] = (
        200_000
    ),
    rate_fraction: Annotated[
        float,
        typer.Option(
            help="latency phase: produce at this fraction of the one-process rater's "
            "throughput (both processors)"
        ),
    ] = 0.6,
    latency_seconds: Annotated[float, typer.Option(help="length of each latency phase")] = 10.0,
    warmup_seconds: Annotated[
        float, typer.Option(min=0, help="latency phase: seconds produced first, not counted")
    ] = 3.0,
    batch_size: Annotated[int | None, typer.Option(help="override Settings.batch_size")] = None,
    passthrough: Annotated[
        bool, typer.Option(help="also measure the do-nothing Avro passthrough")
    ] = True,
    latency: Annotated[bool, typer.Option(help="also measure produce-to-event latency")] = True,
    profile: Annotated[
        bool, typer.Option(help="cProfile the rater's throughput phase (slows it down)")
    ] = False,
    catch_up_tick: Annotated[
        bool, typer.Option(help="tick to the workload's start before the usage (daily cron)")
    ] = True,
    processes: Annotated[
        int,
        typer.Option(min=1, help="also drain the backlog with this many processes (1: skip)"),
    ] = 4,
    rounds: Annotated[
        int,
        typer.Option(min=1, help="rounds of the multi-process phase (rater, passthrough); medians"),
    ] = 3,
    partitions: Annotated[int, typer.Option(min=1, help="partitions per topic")] = 8,
) -> None:
    """End-to-end records/s and latency of the streaming rater (exactly-once, real Kafka
    and Redis) next to a do-nothing Avro passthrough. Uses and then deletes its own topics,
    groups and Redis namespace."""
    from rater.bench import stream as bench

    catalog = catalog or example_catalog()
    try:
        load_catalog(catalog)
    except CatalogError as e:
        _fail(str(e))
    if not 0 < rate_fraction <= 1:
        _fail("--rate-fraction: must be in (0, 1]")
    bench.run(
        bench.Options(
            catalog=catalog,
            subscribers=subscribers,
            records=records,
            rate_fraction=rate_fraction,
            latency_seconds=latency_seconds,
            warmup_seconds=warmup_seconds,
            batch_size=batch_size,
            profile=profile,
            catch_up_tick=catch_up_tick,
            passthrough=passthrough,
            latency=latency,
            processes=processes,
            rounds=rounds,
            partitions=partitions,
        ),
        out=typer.echo,
    )


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="settings YAML (environment overrides it)")
]


def _settings(config: Path | None, **overrides: object) -> Settings:
    from rater.config import ConfigError, load_settings

    try:
        return load_settings(config, **overrides)
    except ConfigError as e:
        _fail(str(e))
        raise


def _progress(label: str, total: int | None) -> Progress:
    """A bar on a terminal, a line every 10 s otherwise (not under pytest)."""
    import os

    from rater.progress import Progress

    return Progress(label, total, enabled="PYTEST_VERSION" not in os.environ)


def _logging(level: str = "INFO") -> None:
    import logging

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def run(
    config: ConfigOpt = None,
    catalog: Annotated[Path | None, typer.Option(help="catalog YAML (overrides config)")] = None,
    drain: Annotated[
        bool, typer.Option(help="stop once every input message has been applied")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    workers: Annotated[
        int, typer.Option(min=1, help="rater processes in this group on this machine")
    ] = 1,
) -> None:
    """Run the streaming rater: Kafka in, Redis state, Kafka out, effectively once."""
    from rater.stream.processor import run_service
    from rater.stream.workers import run_workers

    _logging(log_level)
    s = _settings(config, catalog=catalog)
    try:
        load_catalog(s.catalog)
    except CatalogError as e:
        _fail(str(e))
    if workers > 1:
        raise typer.Exit(run_workers(s, workers, drain, log_level))
    run_service(s, drain)


@app.command()
def topics(
    config: ConfigOpt = None,
    partitions: Annotated[int | None, typer.Option(help="partitions per topic")] = None,
) -> None:
    """Create the input and output topics if they are missing."""
    from rater.stream.kafka import TopicsMismatch, ensure_topics

    s = _settings(config)
    try:
        ensure_topics(s, partitions)
    except TopicsMismatch as e:
        _fail(str(e))
    typer.echo(
        f"topics ready at {s.kafka_bootstrap_servers}: "
        f"{', '.join(s.topics.inputs() + s.topics.outputs())}"
    )


@app.command()
def load(
    subscribers: SubsOpt,
    config: ConfigOpt = None,
    catalog: Annotated[Path | None, typer.Option(help="catalog YAML (overrides config)")] = None,
) -> None:
    """Turn a subscribers file into commands on the command topic (the bootstrap)."""
    from rater.stream.tools import produce_commands

    s = _settings(config, catalog=catalog)
    _refuse_bad_inputs(s.catalog, subscribers)
    try:
        cmds = to_commands(load_subscribers(subscribers))
    except SubscribersError as e:
        _fail(str(e))
    with _progress(f"loading {subscribers.name}", None) as bar:
        n = produce_commands(s, cmds, lambda k: bar.update(k, k))
    typer.echo(f"{n} commands for {subscribers} sent to {s.topics.commands}")


@app.command("produce")
def produce(
    usage: Annotated[Path, typer.Option("--usage", help="usage: JSON lines or Avro container")],
    subscribers: SubsOpt,
    config: ConfigOpt = None,
) -> None:
    """Produce a usage file to the usage topic, keyed by account."""
    from rater.jobs.offline import Reading, read_usage
    from rater.routing import Router
    from rater.stream.tools import produce_usage

    s = _settings(config)
    try:
        cmds = to_commands(load_subscribers(subscribers))
    except SubscribersError as e:
        _fail(str(e))
    router = Router(1)
    router.learn(cmds)
    if not usage.is_file():
        _fail(f"--usage {usage}: no such file")
    reading = Reading(usage)
    with _progress(f"producing {usage.name}", reading.total) as bar:
        n, bad = produce_usage(
            s,
            read_usage(usage, reading),
            router.directory,
            lambda k: bar.update(reading.done, k),
        )
    for b in bad:
        where = f"{b.source}:{b.line}" if b.line else b.source
        typer.echo(f"{where}: not sent: {b.reason}", err=True)
    typer.echo(f"{n} usage records sent to {s.topics.usage}")


@app.command()
def tick(
    config: ConfigOpt = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="time to tick to, ISO-8601 with a UTC offset (default now)"),
    ] = None,
) -> None:
    """Send the clock to every partition (run it from a Kubernetes CronJob)."""
    from rater.stream.tools import send_tick

    s = _settings(config)
    n, t = send_tick(s, _time(at, "--at"))
    typer.echo(f"tick {t} sent to {n} partitions of {s.topics.commands}")


@app.command()
def balance(
    msisdn: Annotated[str, typer.Argument(metavar="MSISDN", help="the subscriber's number")],
    config: ConfigOpt = None,
) -> None:
    """A subscriber's buckets, used and remaining, cycle and throttle state (from Redis)."""

    from rater.report import balance_text
    from rater.store.redis import RedisStore, redis_client
    from rater.stream.kafka import partition_count
    from rater.stream.tools import read_balance

    s = _settings(config)
    url = s.redis_url.get_secret_value()
    client = redis_client(url, s.redis_cluster, s.redis_timeout_s)
    found = read_balance(
        RedisStore(client, s.namespace), partition_count(s, s.topics.usage), msisdn
    )
    if found is None:
        _fail(f"no subscriber {msisdn} in Redis namespace {s.namespace}")
        return
    part, account = found
    typer.echo(f"(partition {part}, account {account.key})")
    typer.echo(balance_text(account.lines[msisdn]))


@app.command()
def report(
    config: ConfigOpt = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", help="events file, JSON lines as `simulate --out` writes (default: topics)"
        ),
    ] = None,
    dead_letters: Annotated[
        Path | None,
        typer.Option(
            "--dead-letters",
            help="dead letters file, as `simulate --dead-letters` writes (with --events)",
        ),
    ] = None,
    msisdn: Annotated[
        list[str] | None, typer.Option("--msisdn", help="only this subscriber (repeatable)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="only from this time, ISO-8601 with a UTC offset")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="only before this time, ISO-8601 with a UTC offset")
    ] = None,
    kind: Annotated[
        list[ReportKind] | None,
        typer.Option("--kind", help="only this kind (repeatable)", case_sensitive=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="every matching event and dead letter as a JSON line")
    ] = False,
    subscribers: Annotated[
        Path | None, typer.Option("--subscribers", help="also show these subscribers' balances")
    ] = None,
) -> None:
    """What a run produced: per-subscriber charges, throttles, dead letters, balances;
    filtered by subscriber, time and kind, or as JSON lines. Streams the events file."""
    from collections.abc import Iterable

    from rater.codec.deadletter import DeadLetter
    from rater.core.events import Event
    from rater.report import Filter, read_dead_letters_file, read_events_file, report_lines

    f = Filter(
        msisdns=frozenset(msisdn or ()),
        since=_time(since, "--since"),
        until=_time(until, "--until"),
        kinds=frozenset(kind or ()),
    )
    evs: Iterable[Event]
    dead: Iterable[DeadLetter]
    if events is not None:
        for path, opt in ((events, "--events"), (dead_letters, "--dead-letters")):
            if path is not None and not path.is_file():
                _fail(f"{opt} {path}: no such file")
        evs = read_events_file(events)
        dead = read_dead_letters_file(dead_letters) if dead_letters is not None else ()
        source = f" in {events}"
    else:
        from rater.codec import avro
        from rater.stream.tools import avro_body, iter_events, iter_topic

        s = _settings(config)
        evs = iter_events(s) if any(f.wants(k) for k in ReportKind if k != "deadletter") else ()
        dead = (
            (
                avro.decode_dead_letter(avro_body(s, v))
                for _, v in iter_topic(s, s.topics.dead_letter)
            )
            if f.wants(ReportKind.DEADLETTER)
            else ()
        )
        source = f" in {s.topics.charges} and friends"
    try:
        for text in report_lines(evs, dead, f, as_json, source):
            typer.echo(text)
    except ValueError as e:
        _fail(str(e))
    if subscribers is not None and not as_json:
        for spec in load_subscribers(subscribers):
            if f.msisdns and spec.msisdn not in f.msisdns:
                continue
            typer.echo("")
            balance(spec.msisdn, config)


@app.command()
def explain(
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="an event id, a record id or a command id")
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", help="events file, JSON lines as `simulate --out` writes (default: topics)"
        ),
    ] = None,
    config: ConfigOpt = None,
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="catalog YAML: also show its prices")
    ] = None,
) -> None:
    """Why a charge was what it was: the buckets in consumption order and what each gave,
    the overage arithmetic with its rounding, the fee rule, the catalog version. Exit 1
    if no event matches."""
    from rater.explain import explain as explain_events
    from rater.report import read_events_file

    cat = None
    if catalog is not None:
        try:
            cat = load_catalog(catalog)
        except CatalogError as e:
            _fail(str(e))
    if events is not None:
        if not events.is_file():
            _fail(f"--events {events}: no such file")
        evs = read_events_file(events)
        where = str(events)
    else:
        from rater.stream.tools import read_events

        s = _settings(config)
        evs = iter(read_events(s))
        where = f"{s.topics.charges} and friends"
    try:
        text, n = explain_events(evs, ident, cat)
    except ValueError as e:
        _fail(str(e))
        return
    if not n:
        typer.echo(
            f"no event with event id, record id or command id {ident!r} in {where}", err=True
        )
        raise typer.Exit(1)
    typer.echo(text)


class StoreKind(StrEnum):
    MEMORY = "memory"
    REDIS = "redis"


@app.command()
def record(
    out: Annotated[Path, typer.Option("--out", help="the recording file to write (Avro)")],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="TIME",
            help="from the first message written at or after this time (default: the "
            "topics' beginning)",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="TIME",
            help="up to the first message written at or after this time (default: the "
            "topics' end now)",
        ),
    ] = None,
    charges: Annotated[
        bool, typer.Option("--charges", help="also record the charges issued")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Copy the usage and command topics (committed messages only) over a time range
    into a recording file for `rater replay`. Reads without a consumer group: no
    offsets of the live rater change."""
    from rater.replay.record import record as run_record

    s = _settings(config)
    start, end = _time(from_, "--from"), _time(to, "--to")
    if start is not None and end is not None and start >= end:
        _fail("--from must be before --to")
    if out.is_dir():
        _fail(f"--out {out}: a directory, not a file")
    if not out.parent.is_dir():
        _fail(f"--out {out}: no folder {out.parent}")
    typer.echo(run_record(s, out, start, end, charges).text())


@app.command()
def snapshot(
    out: Annotated[Path, typer.Option("--out", help="the snapshot file to write (JSON lines)")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="refuse unless no subscriber has applied anything after this time "
            "(ISO-8601 with a UTC offset)",
        ),
    ] = None,
    msisdn: Annotated[
        list[str] | None, typer.Option("--msisdn", help="only this subscriber (repeatable)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write subscribers' state from Redis (all, or --msisdn) with each partition's
    watermark, for `rater replay --state`. Reads only."""
    from rater.replay.snapshot import take
    from rater.store.redis import RedisStore, redis_client
    from rater.stream.kafka import partition_count

    s = _settings(config)
    t = _time(at, "--at")
    if out.is_dir() or not out.parent.is_dir():
        _fail(f"--out {out}: " + ("a directory" if out.is_dir() else f"no folder {out.parent}"))
    client = redis_client(s.redis_url.get_secret_value(), s.redis_cluster, s.redis_timeout_s)
    topics = {"usage": s.topics.usage, "commands": s.topics.commands}
    h = take(
        RedisStore(client, s.namespace),
        partition_count(s, s.topics.usage),
        topics,
        out,
        t,
        msisdn or None,
    )
    typer.echo(
        f"{h.accounts} accounts of namespace {h.namespace} ({h.partitions} partitions) "
        f"written to {out} in {h.seconds:.2f} s"
    )


@app.command()
def replay(
    catalog: CatalogOpt,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="folder for the outputs and the diff")
    ],
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="a recording (rater record), or usage as JSON lines or Avro"),
    ] = None,
    topics: Annotated[
        bool, typer.Option("--topics", help="read the input topics themselves (read only)")
    ] = False,
    subscribers: Annotated[
        Path | None, typer.Option("--subscribers", help="start from this subscribers file")
    ] = None,
    state: Annotated[
        Path | None, typer.Option("--state", help="start from this snapshot (rater snapshot)")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="TIME", help="rate inputs of this event time or later"),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="TIME", help="rate inputs before this time")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="tick the clock to this time at the end, as simulate")
    ] = None,
    issued: Annotated[
        Path | None,
        typer.Option(
            "--issued", help="the charges issued: JSON lines, or a recording made with --charges"
        ),
    ] = None,
    issued_topic: Annotated[
        str | None,
        typer.Option("--issued-topic", metavar="TOPIC", help="the charges issued, on this topic"),
    ] = None,
    store: Annotated[
        StoreKind, typer.Option("--store", help="rate into memory or a Redis namespace")
    ] = StoreKind.MEMORY,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", metavar="NS", help="with --store redis: the replay's own"),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="delete what --namespace holds first")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Rate recorded input again through the shared pipeline, in isolation (nothing live
    is written), and diff it against the charges issued (DIR/diff.csv, DIR/report.html)."""
    from rater.core.engine import Rater
    from rater.errors import Refused
    from rater.replay.job import replay as run_replay
    from rater.replay.job import text
    from rater.replay.plan import Options, Window, build
    from rater.replay.recording import RecordingError
    from rater.replay.snapshot import SnapshotError

    s = _settings(config)
    cmds: list[Command] | None = None
    try:
        cat = load_catalog(catalog)
        if subscribers is not None:
            _refuse_bad_inputs(catalog, subscribers)
            cmds = to_commands(load_subscribers(subscribers))
    except (CatalogError, SubscribersError) as e:
        _fail(str(e))
    window = Window(_time(from_, "--from"), _time(to, "--to"))
    options = Options(
        out_dir=out,
        input_file=input_file,
        topics=topics,
        commands=cmds,
        state=state,
        window=window,
        until=_time(until),
        issued=issued,
        issued_topic=issued_topic,
        store=store.value,
        namespace=namespace,
        fresh=fresh,
    )
    try:
        plan = build(s, Rater(cat, s.duplicate_window_ms), options)
        res = run_replay(plan)
    except (Refused, RecordingError, SnapshotError) as e:
        _fail(str(e))
        return
    typer.echo(text(res, plan), err=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("rater")
        except PackageNotFoundError:
            v = "unknown"
        typer.echo(f"rater {v}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="show a traceback on errors")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """rater: usage rating for mobile operators. Exit codes: 0 done, 1 problems found,
    2 refused (bad option, file or input), 3 Kafka or Redis unavailable, 4 a bug."""


def main() -> None:
    """The `rater` command: an error is one line on stderr with an exit code
    (rater/errors.py), a traceback only with --debug."""
    import os

    from rater.errors import describe

    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as e:
        if debug:
            raise
        code, line = describe(
            e,
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            os.environ.get("REDIS_URL", ""),
        )
        typer.echo(f"error: {line}", err=True)
        raise SystemExit(code) from None


if __name__ == "__main__":
    main()
