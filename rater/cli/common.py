"""What the commands of `rater` share: the option types, the settings, failing with
exit 2, time options, the example catalog, the progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rater.core.cycles import to_ms

if TYPE_CHECKING:
    from rater.config import Settings
    from rater.progress import Progress

CatalogOpt = Annotated[Path, typer.Option("--catalog", help="catalog YAML file")]
SubsOpt = Annotated[Path, typer.Option("--subscribers", help="subscribers YAML file")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="settings YAML (environment overrides it)")
]


def example_catalog(name: str = "catalog-full.yaml") -> Path:
    """An example catalog wherever rater runs from: shipped in the package
    (rater/examples/) or in the repo the package lives in (examples/), else relative to
    the current folder."""
    here = Path(__file__).resolve().parent.parent
    for folder in (here / "examples", here.parent / "examples"):
        if (folder / name).is_file():
            return folder / name
    return Path("examples") / name


def fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def time_option(value: str | None, option: str = "--until") -> int | None:
    """A time option: ISO-8601 with a UTC offset; without one it is refused, not guessed."""
    if value is None:
        return None
    try:
        return to_ms(value)
    except ValueError:
        fail(
            f"{option}: {value!r} is not an ISO-8601 time with a UTC offset "
            "(e.g. 2026-05-01T00:00:00+08:00)"
        )
    return None


def settings(config: Path | None, **overrides: object) -> Settings:
    from rater.config import ConfigError, load_settings

    try:
        return load_settings(config, **overrides)
    except ConfigError as e:
        fail(str(e))
        raise


def progress(label: str, total: int | None) -> Progress:
    """A bar on a terminal, a line every 10 s otherwise (not under pytest)."""
    import os

    from rater.progress import Progress

    return Progress(label, total, enabled="PYTEST_VERSION" not in os.environ)


def setup_logging(level: str = "INFO") -> None:
    import logging

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def refuse_bad_inputs(catalog: Path, subscribers: Path, commands: Path | None = None) -> None:
    """`rater check` of the catalog, subscribers and commands files (not the usage: its
    bad records are dead-lettered by design); exit 2 with every problem if any."""
    from rater.check import check_files, format_problems, summary_line

    problems = check_files(catalog, subscribers, commands_path=commands)
    if problems:
        fail(f"{summary_line(problems)}:\n{format_problems(problems)}")
