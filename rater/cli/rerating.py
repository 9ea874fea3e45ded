"""Re-rating: `rater record`, `snapshot` and `replay`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rater.catalog import CatalogError, load_catalog
from rater.cli.common import (
    CatalogOpt,
    ConfigOpt,
    fail,
    refuse_bad_inputs,
    settings,
    time_option,
)
from rater.gc_tuning import paused_gc
from rater.subscribers import SubscribersError, load_subscribers, to_commands

if TYPE_CHECKING:
    from rater.core.inputs import Command


class StoreKind(StrEnum):
    MEMORY = "memory"
    REDIS = "redis"


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

    s = settings(config)
    start, end = time_option(from_, "--from"), time_option(to, "--to")
    if start is not None and end is not None and start >= end:
        fail("--from must be before --to")
    if out.is_dir():
        fail(f"--out {out}: a directory, not a file")
    if not out.parent.is_dir():
        fail(f"--out {out}: no folder {out.parent}")
    typer.echo(run_record(s, out, start, end, charges).text())


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
    from rater.store.redis import RedisStore, settings_client
    from rater.stream.kafka import partition_count

    s = settings(config)
    t = time_option(at, "--at")
    if out.is_dir() or not out.parent.is_dir():
        fail(f"--out {out}: " + ("a directory" if out.is_dir() else f"no folder {out.parent}"))
    client = settings_client(s)
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
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="processes sharing the partitions, same output (a file into memory; "
            "default: config offline_workers; 0: one per CPU for a large input)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Rate recorded input again through the shared pipeline, in isolation (nothing live
    is written), and diff it against the charges issued (DIR/diff.csv, DIR/report.html)."""
    from rater.core.engine import Rater
    from rater.errors import Refused
    from rater.replay.job import replay as run_replay
    from rater.replay.plan import Options, Window, build
    from rater.replay.recording import RecordingError
    from rater.replay.result import text
    from rater.replay.snapshot import SnapshotError

    s = settings(config)
    cmds: list[Command] | None = None
    try:
        cat = load_catalog(catalog)
        if subscribers is not None:
            with paused_gc():  # the start-up keeps what it builds (rater.gc_tuning)
                refuse_bad_inputs(catalog, subscribers)
                cmds = to_commands(load_subscribers(subscribers))
    except (CatalogError, SubscribersError) as e:
        fail(str(e))
    window = Window(time_option(from_, "--from"), time_option(to, "--to"))
    options = Options(
        out_dir=out,
        input_file=input_file,
        topics=topics,
        commands=cmds,
        state=state,
        window=window,
        until=time_option(until),
        issued=issued,
        issued_topic=issued_topic,
        store=store.value,
        namespace=namespace,
        fresh=fresh,
        workers=workers,
    )
    try:
        plan = build(s, Rater(cat, s.duplicate_window_ms), options)
        res = run_replay(plan)
    except (Refused, RecordingError, SnapshotError) as e:
        fail(str(e))
        return
    typer.echo(text(res, plan), err=True)
