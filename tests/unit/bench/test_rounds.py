"""`rater bench simulate` and `bench replay` time the core and the command in turn and
report the median of the rounds' ratios: a drift of the box's speed between the core's
timing and the command's does not become the figure."""

from __future__ import annotations

from rater.bench.simulate import Run, rounds_of


def test_the_core_and_the_command_alternate_and_the_median_ratio_is_reported() -> None:
    calls: list[str] = []
    cores = iter([100_000.0, 50_000.0, 100_000.0])  # the box slowed down in round 2
    # the command's rating: 80 000, 40 000 and 70 000 records/s
    jobs = iter(
        [
            Run(10.0, 800_000, 10.0, 2, 900),
            Run(25.0, 800_000, 20.0, 2, 910),
            Run(15.0, 700_000, 10.0, 2, 920),
        ]
    )

    def core() -> float:
        calls.append("core")
        return next(cores)

    def job() -> Run:
        calls.append("job")
        return next(jobs)

    lines, rating, whole, middle = rounds_of(core, job, 3)
    assert calls == ["core", "job"] * 3
    assert len(lines) == 3 and "ratio 0.80 rating" in lines[0]
    # ratios 0.8, 0.8, 0.7: a single core timing from round 2 would have said 1.6
    assert rating == 0.8
    assert whole == 0.64  # 800 000 / 25 s / 50 000
    assert middle.peak_mib in (900, 910)
