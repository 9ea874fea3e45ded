"""`rater deadletters list | show | redrive`: the thin command line over the functions
of this package (options to a `Filter`, results to lines, exit codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from rater.config import Settings
from rater.stream.deadletters.letters import Filter, Unreadable, parse_id, parse_ids, select
from rater.stream.deadletters.read import read_dead_letters, read_redriven, show_dead_letter
from rater.stream.deadletters.redrive import RedriveError, redrive, redrive_all
from rater.stream.deadletters.show import describe, format_detail, format_line, summary

__all__ = ["deadletters_app"]


deadletters_app = typer.Typer(
    help="Dead letters: list them, show one, send originals back (redrive) once.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="settings YAML (environment overrides it)")
]
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option("--reason", help="error class, e.g. UNKNOWN_SUBSCRIBER (repeatable)"),
]
SourceTopicOpt = Annotated[str | None, typer.Option("--source-topic", help="source topic")]
SourcePartOpt = Annotated[
    int | None, typer.Option("--source-partition", min=0, help="source partition")
]
FromOpt = Annotated[
    int | None, typer.Option("--from-offset", min=0, help="source offset at least (inclusive)")
]
ToOpt = Annotated[
    int | None, typer.Option("--to-offset", min=0, help="source offset at most (inclusive)")
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="source message time at or after (ISO-8601 with offset)"),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", help="source message time before (ISO-8601 with offset)"),
]
IdsOpt = Annotated[
    list[str] | None,
    typer.Option("--ids", help="dead letters P:O[,P:O...] (partition:offset; repeatable)"),
]


def _settings(config: Path | None) -> Settings:
    from rater.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def _ms(value: str | None, option: str) -> int | None:
    from rater.core.cycles import to_ms

    if value is None:
        return None
    try:
        return to_ms(value)
    except ValueError:
        typer.echo(
            f"error: {option}: {value!r} is not an ISO-8601 time with a UTC offset "
            "(e.g. 2026-05-01T00:00:00+08:00)",
            err=True,
        )
        raise typer.Exit(2) from None


def _filter(
    reason: list[str] | None,
    source_topic: str | None,
    source_partition: int | None,
    from_offset: int | None,
    to_offset: int | None,
    since: str | None,
    until: str | None,
    ids: list[str] | None = None,
) -> Filter:
    try:
        chosen = parse_ids(ids or [])
    except ValueError as e:
        typer.echo(f"error: --ids: {e}", err=True)
        raise typer.Exit(2) from None
    return Filter(
        reasons=frozenset(r.strip() for r in reason or [] if r.strip()),
        source_topic=source_topic,
        source_partition=source_partition,
        from_offset=from_offset,
        to_offset=to_offset,
        since_ms=_ms(since, "--since"),
        until_ms=_ms(until, "--until"),
        ids=chosen,
    )


@deadletters_app.command("list")
def list_command(
    reason: ReasonOpt = None,
    source_topic: SourceTopicOpt = None,
    source_partition: SourcePartOpt = None,
    from_offset: FromOpt = None,
    to_offset: ToOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    config: ConfigOpt = None,
) -> None:
    """One line per dead letter: id (partition:offset in the dead-letter topic), error
    class, source topic[partition]@offset, source time (UTC), payload size, the error."""
    s = _settings(config)
    f = _filter(reason, source_topic, source_partition, from_offset, to_offset, since, until)
    reading = read_dead_letters(s)
    done = read_redriven(s)
    for x in select(reading.letters, f):
        if as_json:
            typer.echo(orjson.dumps(summary(x, x.id in done)).decode())
        else:
            typer.echo(format_line(x, x.id in done))
    for u in reading.unreadable:
        typer.echo(f"warning: {u.partition}:{u.offset} is not a dead letter: {u.error}", err=True)


@deadletters_app.command("show")
def show_command(
    dead_letter: Annotated[str, typer.Argument(help="P:O, the dead letter's partition:offset")],
    as_json: Annotated[bool, typer.Option("--json", help="as one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """Everything about one dead letter, its payload decoded (usage record or command as
    JSON) or else the hex of its first 256 bytes."""
    s = _settings(config)
    try:
        p, o = parse_id(dead_letter)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    x = show_dead_letter(s, p, o)
    if x is None:
        typer.echo(f"error: no dead letter at {p}:{o} of {s.topics.dead_letter}", err=True)
        raise typer.Exit(1)
    if isinstance(x, Unreadable):
        typer.echo(f"error: {p}:{o} is not a dead letter: {x.error}", err=True)
        raise typer.Exit(1)
    record = read_redriven(s).get(x.id)
    if as_json:
        typer.echo(orjson.dumps(describe(s, x, record)).decode())
    else:
        typer.echo(format_detail(s, x, record))


@deadletters_app.command("redrive")
def redrive_command(
    reason: ReasonOpt = None,
    source_topic: SourceTopicOpt = None,
    source_partition: SourcePartOpt = None,
    from_offset: FromOpt = None,
    to_offset: ToOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    ids: IdsOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="every dead letter (when no filter is given)")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent")] = False,
    config: ConfigOpt = None,
) -> None:
    """Send the chosen originals back to their source topic and partition, once, in one
    transaction with a record of it on <dead-letter topic>.redriven. Dead letters
    already redriven are skipped; truncated ones are refused. Exit 1 if any chosen one
    was refused or an id was not found."""
    s = _settings(config)
    f = _filter(reason, source_topic, source_partition, from_offset, to_offset, since, until, ids)
    if f.everything and not all_:
        typer.echo("error: choose dead letters (--reason, --ids, ... ) or give --all", err=True)
        raise typer.Exit(2)
    try:
        res = redrive_all(s, dry_run=dry_run) if f.everything else redrive(s, f, dry_run=dry_run)
    except RedriveError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    verb = "would send" if dry_run else "sent"
    for one in res.sent:
        where = f"{one.topic}[{one.partition}]" + ("" if one.offset < 0 else f"@{one.offset}")
        typer.echo(f"{verb} {one.letter.id} ({one.letter.dead.error_class}) -> {where}")
    for x in res.already:
        typer.echo(f"skipped {x.id}: already redriven")
    for x, why in res.refused:
        typer.echo(f"refused {x.id}: {why}", err=True)
    for i in res.missing:
        typer.echo(f"not found {i} in {s.topics.dead_letter}", err=True)
    for u in res.unreadable:
        typer.echo(f"warning: {u.partition}:{u.offset} is not a dead letter: {u.error}", err=True)
    typer.echo(
        f"{verb} {len(res.sent)}, already redriven {len(res.already)}, "
        f"refused {len(res.refused)}" + (f", not found {len(res.missing)}" if res.missing else ""),
        err=True,
    )
    if not res.ok:
        raise typer.Exit(1)
