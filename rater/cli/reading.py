"""Reading what a run produced: `rater balance`, `report` and `explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rater.catalog import CatalogError, load_catalog
from rater.cli.common import ConfigOpt, fail, settings, time_option
from rater.report import ReportKind
from rater.subscribers import load_subscribers


def balance(
    msisdn: Annotated[str, typer.Argument(metavar="MSISDN", help="the subscriber's number")],
    config: ConfigOpt = None,
) -> None:
    """A subscriber's buckets, used and remaining, cycle and throttle state (from Redis)."""

    from rater.report import balance_text
    from rater.store.redis import RedisStore, settings_client
    from rater.stream.kafka import partition_count
    from rater.stream.tools import read_balance

    s = settings(config)
    client = settings_client(s)
    found = read_balance(
        RedisStore(client, s.namespace), partition_count(s, s.topics.usage), msisdn
    )
    if found is None:
        fail(f"no subscriber {msisdn} in Redis namespace {s.namespace}")
        return
    part, account = found
    typer.echo(f"(partition {part}, account {account.key})")
    typer.echo(balance_text(account.lines[msisdn]))


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
        since=time_option(since, "--since"),
        until=time_option(until, "--until"),
        kinds=frozenset(kind or ()),
    )
    evs: Iterable[Event]
    dead: Iterable[DeadLetter]
    if events is not None:
        for path, opt in ((events, "--events"), (dead_letters, "--dead-letters")):
            if path is not None and not path.is_file():
                fail(f"{opt} {path}: no such file")
        evs = read_events_file(events)
        dead = read_dead_letters_file(dead_letters) if dead_letters is not None else ()
        source = f" in {events}"
    else:
        from rater.codec import avro
        from rater.stream.tools import avro_body, iter_events, iter_topic

        s = settings(config)
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
        fail(str(e))
    if subscribers is not None and not as_json:
        for spec in load_subscribers(subscribers):
            if f.msisdns and spec.msisdn not in f.msisdns:
                continue
            typer.echo("")
            balance(spec.msisdn, config)


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
            fail(str(e))
    if events is not None:
        if not events.is_file():
            fail(f"--events {events}: no such file")
        evs = read_events_file(events)
        where = str(events)
    else:
        from rater.stream.tools import read_events

        s = settings(config)
        evs = iter(read_events(s))
        where = f"{s.topics.charges} and friends"
    try:
        text, n = explain_events(evs, ident, cat)
    except ValueError as e:
        fail(str(e))
        return
    if not n:
        typer.echo(
            f"no event with event id, record id or command id {ident!r} in {where}", err=True
        )
        raise typer.Exit(1)
    typer.echo(text)
