"""`rater bench`: the benchmarks (figures, not pass/fail)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rater.catalog import CatalogError, load_catalog
from rater.cli.common import ConfigOpt, example_catalog, fail, settings

bench_app = typer.Typer(help="Benchmarks (figures, not pass/fail).", no_args_is_help=True)

BenchCatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="catalog YAML file (default: the example catalog-full.yaml)"),
]
SubscriberCountOpt = Annotated[
    int, typer.Option("--subscriber-count", help="synthetic subscribers")
]


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
        fail(str(e))
    typer.echo(bench.run(cat, subscribers, records, profile))


RoundsOpt = Annotated[
    int, typer.Option(min=1, help="the core and the command in turn, this many times (median)")
]


@bench_app.command("simulate")
def bench_simulate(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 50_000,
    records: Annotated[int, typer.Option(help="synthetic usage records")] = 1_000_000,
    workers: Annotated[
        int, typer.Option(min=0, help="rater simulate's --workers (0: its default)")
    ] = 0,
    rounds: RoundsOpt = 3,
) -> None:
    """`rater simulate` on a large file against the rating core alone; peak memory."""
    from rater.bench import simulate as bench

    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        fail(str(e))
    typer.echo(bench.run(catalog, cat, subscribers, records, workers, rounds))


@bench_app.command("replay")
def bench_replay(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 50_000,
    records: Annotated[int, typer.Option(help="recorded usage records")] = 1_000_000,
    workers: Annotated[
        int, typer.Option(min=0, help="rater replay's --workers (0: its default)")
    ] = 0,
    rounds: RoundsOpt = 3,
) -> None:
    """`rater replay` of a recording (memory store) against the rating core alone; peak
    memory."""
    from rater.bench import replay as bench

    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        fail(str(e))
    typer.echo(bench.run(catalog, cat, subscribers, records, workers, rounds))


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

    s = settings(config)
    catalog = catalog or example_catalog()
    try:
        cat = load_catalog(catalog)
    except CatalogError as e:
        fail(str(e))
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


@bench_app.command("load")
def bench_load(
    catalog: BenchCatalogOpt = None,
    subscribers: SubscriberCountOpt = 100_000,
    workers: Annotated[int, typer.Option(min=1, help="loading processes")] = 2,
    activated_days: Annotated[
        int, typer.Option(min=1, help="activate the subscribers over this many days")
    ] = 1,
) -> None:
    """`rater load --bulk` alone, timed: N synthetic subscribers sent, rated and written
    into topics and a Redis namespace of the run's own (deleted at the end)."""
    from rater.bench import load as bench

    catalog = catalog or example_catalog()
    try:
        load_catalog(catalog)
    except CatalogError as e:
        fail(str(e))
    bench.run(catalog, subscribers, workers, activated_days, out=typer.echo)


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
    activated_days: Annotated[
        int,
        typer.Option(
            min=1,
            help="activate the subscribers over this many days before the usage (the "
            "catch-up tick charges that many days of daily fees)",
        ),
    ] = 40,
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
        fail(str(e))
    if not 0 < rate_fraction <= 1:
        fail("--rate-fraction: must be in (0, 1]")
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
            activated_days=activated_days,
            passthrough=passthrough,
            latency=latency,
            processes=processes,
            rounds=rounds,
            partitions=partitions,
        ),
        out=typer.echo,
    )
