"""`rater simulate` and `rater check`: files in, no Kafka, no Redis."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from rater.catalog import CatalogError, load_catalog
from rater.cli.common import (
    CatalogOpt,
    ConfigOpt,
    SubsOpt,
    fail,
    refuse_bad_inputs,
    settings,
    time_option,
)
from rater.gc_tuning import paused_gc
from rater.subscribers import (
    SubscribersError,
    forget_last_read,
    load_subscribers,
    to_commands,
)

if TYPE_CHECKING:
    from rater.core.inputs import Command, Tick


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
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="processes sharing the partitions, same output (default: config "
            "offline_workers; 0: one per CPU for a large input)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Rate files offline as the stream would: same checks, same order, same events.
    No Kafka, no Redis. Events as JSON lines."""
    from rater.core.engine import Rater
    from rater.jobs.files import CommandsError, in_time_order, read_commands
    from rater.jobs.shares import worker_count
    from rater.jobs.simulate import simulate as run_sim

    s = settings(config)
    with paused_gc():  # the start-up keeps what it builds (rater.gc_tuning)
        refuse_bad_inputs(catalog, subscribers, commands)
        try:
            cat = load_catalog(catalog)
            cmds: list[Command | Tick] = list(to_commands(load_subscribers(subscribers)))
            if commands is not None:
                cmds = in_time_order(cmds, read_commands(commands))
        except (CatalogError, SubscribersError, CommandsError) as e:
            fail(str(e))
    if not usage.is_file():
        fail(
            f"--usage {usage}: " + ("a directory, not a file" if usage.is_dir() else "no such file")
        )
    # a file, rewindable: a run starts over if the core raises on an input (a bug)
    sink: IO[bytes] = out.open("wb") if out else tempfile.TemporaryFile()  # noqa: SIM115
    dead = dead_letters.open("wb") if dead_letters else None
    try:
        parts = partitions or s.partitions
        run = run_sim(
            Rater(cat, s.duplicate_window_ms),
            cmds,
            usage,
            time_option(until),
            sink,
            dead,
            partitions=parts,
            topics=s.topics,
            max_future_ms=s.max_future_ms,
            tick_accounts=s.tick_accounts_per_batch,
            workers=worker_count(
                s.offline_workers if workers is None else workers, parts, usage.stat().st_size
            ),
        )
        if not out:
            sink.seek(0)
            shutil.copyfileobj(sink, sys.stdout.buffer)
    finally:
        sink.close()
        if dead is not None:
            dead.close()
    typer.echo(run.summary.text(), err=True)
    typer.echo(run.cost(), err=True)


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

    s = settings(config)
    with paused_gc():  # it keeps the files' trees (rater.gc_tuning)
        problems = check_files(catalog, subscribers, usage, commands, max_future_ms=s.max_future_ms)
    forget_last_read()  # no second reader of the subscribers file
    if problems:
        typer.echo(format_problems(problems), err=True)
        typer.echo(summary_line(problems), err=True)
        raise typer.Exit(1)
    checked = [str(p) for p in (catalog, subscribers, commands, usage) if p is not None]
    typer.echo(f"ok: {', '.join(checked)}")
