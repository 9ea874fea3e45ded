"""The `rater` command line: thin; parse, build config, call one function. One module
per group of commands (offline, service, reading, rerating, bench; the dead letters' in
rater/stream/deadletters), what they share in `common`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rater.cli import bench, offline, reading, rerating, service
from rater.cli.helptext import HELP_OPTIONS, TidyGroup
from rater.stream.deadletters import deadletters_app

app = typer.Typer(
    help="rater: usage rating for mobile operators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=TidyGroup,
    context_settings=HELP_OPTIONS,
)
for command in (
    offline.simulate,
    offline.check,
    service.run,
    service.topics,
    service.load,
    service.produce,
    service.tick,
    reading.balance,
    reading.report,
    reading.explain,
    rerating.record,
    rerating.snapshot,
    rerating.replay,
):
    app.command()(command)
app.add_typer(bench.bench_app, name="bench")
app.add_typer(deadletters_app, name="deadletters")


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
