"""The service's commands: `rater run`, `topics`, `load`, `produce` and `tick`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from rater.catalog import CatalogError, load_catalog
from rater.cli.common import (
    ConfigOpt,
    SubsOpt,
    fail,
    progress,
    refuse_bad_inputs,
    settings,
    setup_logging,
    time_option,
)
from rater.config import Settings
from rater.core.inputs import Command
from rater.gc_tuning import paused_gc
from rater.subscribers import SubscribersError, load_subscribers, to_commands


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
    from rater.stream.service import run_service
    from rater.stream.workers import run_workers

    setup_logging(log_level)
    s = settings(config, catalog=catalog)
    try:
        load_catalog(s.catalog)
    except CatalogError as e:
        fail(str(e))
    if workers > 1:
        raise typer.Exit(run_workers(s, workers, drain, log_level))
    run_service(s, drain)


def topics(
    config: ConfigOpt = None,
    partitions: Annotated[int | None, typer.Option(help="partitions per topic")] = None,
) -> None:
    """Create the input and output topics if they are missing."""
    from rater.stream.kafka import TopicsMismatch, ensure_topics

    s = settings(config)
    try:
        ensure_topics(s, partitions)
    except TopicsMismatch as e:
        fail(str(e))
    typer.echo(
        f"topics ready at {s.kafka_bootstrap_servers}: "
        f"{', '.join(s.topics.inputs() + s.topics.outputs())}"
    )


def load(
    subscribers: SubsOpt,
    config: ConfigOpt = None,
    catalog: Annotated[Path | None, typer.Option(help="catalog YAML (overrides config)")] = None,
    bulk: Annotated[
        bool,
        typer.Option(
            help="a new deployment only: also rate the commands and write their state, "
            "events and offsets at once, so that rater run starts with them applied"
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="--bulk: processes sharing the partitions")
    ] = 1,
) -> None:
    """Turn a subscribers file into commands on the command topic (the bootstrap)."""
    from rater.stream.tools import produce_commands

    s = settings(config, catalog=catalog)
    with paused_gc():  # the start-up keeps what it builds (rater.gc_tuning)
        refuse_bad_inputs(s.catalog, subscribers)
        try:
            cmds = to_commands(load_subscribers(subscribers))
        except SubscribersError as e:
            fail(str(e))
    if bulk:
        _bulk_load(s, cmds, workers)
        return
    with progress(f"loading {subscribers.name}", None) as bar:
        n = produce_commands(s, cmds, lambda k: bar.update(k, k))
    typer.echo(f"{n} commands for {subscribers} sent to {s.topics.commands}")


def _bulk_load(s: Settings, cmds: list[Command], workers: int) -> None:
    from rater.core.engine import Rater
    from rater.gc_tuning import tune_gc
    from rater.store.redis import RedisStore, first_contact, settings_client
    from rater.stream.bulk import bulk_load

    client = settings_client(s)
    first_contact(client, s.redis_url.get_secret_value())
    rater = Rater(load_catalog(s.catalog), s.duplicate_window_ms)
    tune_gc(s.gc_gen0_threshold)
    t0 = time.perf_counter()
    res = bulk_load(s, rater, RedisStore(client, s.namespace), cmds, workers)  # or Refused
    took = time.perf_counter() - t0
    typer.echo(
        f"{res.commands} commands sent to {s.topics.commands} and applied in {took:.1f} s "
        f"({len(cmds) / max(took, 1e-9):.0f} commands/s): {res.outputs} events, "
        f"{res.partitions} partitions"
    )


def produce(
    usage: Annotated[Path, typer.Option("--usage", help="usage: JSON lines or Avro container")],
    subscribers: SubsOpt,
    config: ConfigOpt = None,
) -> None:
    """Produce a usage file to the usage topic, keyed by account."""
    from rater.jobs.files import Reading, read_usage
    from rater.routing import Router
    from rater.stream.tools import produce_usage

    s = settings(config)
    try:
        with paused_gc():
            cmds = to_commands(load_subscribers(subscribers))
    except SubscribersError as e:
        fail(str(e))
    router = Router(1)
    router.learn(cmds)
    if not usage.is_file():
        fail(f"--usage {usage}: no such file")
    reading = Reading(usage)
    with progress(f"producing {usage.name}", reading.total) as bar:
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


def tick(
    config: ConfigOpt = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="time to tick to, ISO-8601 with a UTC offset (default now)"),
    ] = None,
) -> None:
    """Send the clock to every partition (run it from a Kubernetes CronJob)."""
    from rater.stream.tools import send_tick

    s = settings(config)
    n, t = send_tick(s, time_option(at, "--at"))
    typer.echo(f"tick {t} sent to {n} partitions of {s.topics.commands}")
