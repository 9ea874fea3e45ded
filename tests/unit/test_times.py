"""One rule for a time a person writes: ISO-8601 with a UTC offset; without one it is
refused with what to write instead, never read in some default zone (docs/operations.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rater.cli import app
from rater.core.cycles import to_ms
from rater.subscribers import SubscribersError, parse_subscribers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_time_without_an_offset_is_refused() -> None:
    assert to_ms("2026-05-01T00:00:00+08:00") == to_ms("2026-04-30T16:00:00Z")
    with pytest.raises(ValueError, match="no UTC offset"):
        to_ms("2026-05-01T00:00:00")
    with pytest.raises(ValueError, match="no UTC offset"):
        to_ms("2026-05-01")


def test_a_time_with_milliseconds_is_that_millisecond() -> None:
    # float seconds times 1000 gave ...964 here (and for a quarter of the milliseconds of
    # June 2038): `rater record --from` would have copied a message a millisecond early
    assert to_ms("2004-02-15T18:22:14.965+00:00") == 1_076_869_334_965
    for t in range(2_158_963_200_000, 2_158_963_210_000):
        assert to_ms(datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="milliseconds")) == t
    assert to_ms("2026-05-01T00:00:00.9999+08:00") == to_ms("2026-05-01T00:00:00.999+08:00")


@pytest.mark.parametrize(
    "args",
    [
        [
            "simulate",
            "--catalog",
            str(EXAMPLES / "catalog-basic.yaml"),
            "--subscribers",
            str(EXAMPLES / "subscribers-basic.yaml"),
            "--usage",
            str(EXAMPLES / "usage-basic.jsonl"),
            "--until",
            "2026-05-01",
        ],
        ["tick", "--at", "2026-05-01T00:00:00"],
    ],
)
def test_command_options_refuse_a_time_without_an_offset(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "UTC offset" in result.output and "+08:00" in result.output


def test_subscribers_files_refuse_a_time_without_an_offset() -> None:
    entry = {"msisdn": "13800000001", "plan": "P58", "home_province": "GD"}
    with pytest.raises(SubscribersError, match="UTC offset"):
        parse_subscribers({"subscribers": [entry | {"activated": "2026-04-01T00:00:00"}]})
