"""The aligner: a partition's usage and commands merged by event time (commands first on
a tie), bad inputs as soon as they are at the head, one topic held while the other is
empty and not done; and the order does not depend on the batch boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rater.pipeline.align import BAD, Aligner, Arrival
from rater.pipeline.messages import InMessage

U, C = "rater.usage", "rater.commands"


def arrival(topic: str, offset: int, time: int, ident: str = "") -> Arrival:
    return Arrival(
        time,
        InMessage(topic, 0, offset, None, None, time),
        (topic, ident or f"{topic[6]}{offset}"),  # what the test follows through
        "A",
    )


class Counted(Aligner):
    """An aligner whose test counts the offsets of what it pushes, per topic."""

    __slots__ = ("offsets",)

    def __init__(self) -> None:
        super().__init__()
        self.offsets = {U: 0, C: 0}


def push(al: Counted, usage: list[int] = [], commands: list[int] = []) -> None:  # noqa: B006
    """Queue inputs with these times, their offsets following on per topic."""
    for topic, queue, times in ((U, al.usage, usage), (C, al.commands, commands)):
        for time in times:
            queue.append(arrival(topic, al.offsets[topic], time))
            al.offsets[topic] += 1


def names(out: list[Arrival]) -> list[str]:
    return [a.item[1] for a in out]  # type: ignore[index]


def test_merged_by_event_time_commands_first_on_a_tie() -> None:
    al = Counted()
    push(al, usage=[10, 20, 30, 40], commands=[5, 20, 35])
    out = al.release(usage_done=True, commands_done=True)
    assert names(out) == ["c0", "u0", "c1", "u1", "u2", "c2", "u3"]
    assert al.held() == 0


def test_each_queue_keeps_its_offset_order_even_when_times_go_back() -> None:
    al = Counted()
    push(al, usage=[30, 10], commands=[20])
    out = al.release(True, True)
    # usage 10 waits behind usage 30 (offset order), so the command at 20 comes first
    assert names(out) == ["c0", "u0", "u1"]


def test_a_bad_input_is_released_as_soon_as_it_is_at_the_head() -> None:
    al = Counted()
    push(al, usage=[10, BAD, 30], commands=[20, BAD, 25])
    out = al.release(usage_done=False, commands_done=False)
    # u0 (10) first; then the bad usage is at the head: before c0 (20) although it came
    # later; c0; then the bad command; c2 (25) before u2 (30); u2 waits for commands
    assert names(out) == ["u0", "u1", "c0", "c1", "c2"]
    assert names(list(al.usage)) == ["u2"]
    al2 = Counted()
    push(al2, usage=[BAD], commands=[BAD])  # a tie: the command first
    assert names(al2.release(True, True)) == ["c0", "u0"]


def test_usage_is_held_while_commands_are_not_done_and_none_are_queued() -> None:
    al = Counted()
    push(al, usage=[10, 20])
    assert al.release(usage_done=True, commands_done=False) == []
    assert al.held() == 2 and al.waiting_on() == "commands"
    assert al.first_held() == {U: 0}
    # a command arrives: what it precedes goes, the rest still waits
    push(al, commands=[15])
    assert names(al.release(usage_done=True, commands_done=False)) == ["u0", "c0"]
    assert names(list(al.usage)) == ["u1"] and al.waiting_on() == "commands"
    # the command topic is done (at its end): the usage goes
    assert names(al.release(usage_done=True, commands_done=True)) == ["u1"]
    assert al.held() == 0 and al.waiting_on() is None and al.first_held() == {}


def test_commands_are_held_while_usage_is_not_done_and_none_is_queued() -> None:
    al = Counted()
    push(al, commands=[10, 20])
    assert al.release(usage_done=False, commands_done=True) == []
    assert al.waiting_on() == "usage"
    assert names(al.release(usage_done=True, commands_done=False)) == ["c0", "c1"]


def test_first_held_gives_the_offset_of_the_first_held_input_per_topic() -> None:
    al = Counted()
    assert al.first_held() == {}
    push(al, usage=[10, 20, 30, 40], commands=[25, 50])
    out = al.release(usage_done=False, commands_done=False)
    assert names(out) == ["u0", "u1", "c0", "u2", "u3"]  # usage ran out: c1 waits
    assert al.first_held() == {C: 1}
    push(al, usage=[60])
    assert names(al.release(False, False)) == ["c1"]
    assert al.first_held() == {U: 4}
    assert al.waiting_on() == "commands"


# -- batch boundaries do not change the order ---------------------------------------------

TIMES = st.one_of(st.integers(min_value=0, max_value=20), st.just(BAD))  # many ties
QUEUE = st.lists(TIMES, max_size=25)


def _queued(topic: str, times: list[int]) -> list[Arrival]:
    return [arrival(topic, i, t) for i, t in enumerate(times)]


def _all_at_once(usage: list[Arrival], commands: list[Arrival]) -> list[Arrival]:
    al = Aligner()
    al.usage.extend(usage)
    al.commands.extend(commands)
    out = al.release(True, True)
    assert al.held() == 0
    return out


# per release: how many usage and command inputs arrive, and the done flags to report
# (a topic is reported done only once all of it has arrived, e.g. at its end)
STEPS = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans(), st.booleans()))


@given(QUEUE, QUEUE, STEPS)
def test_the_order_does_not_depend_on_the_batch_boundaries(
    usage_times: list[int], command_times: list[int], steps: list[tuple[int, int, bool, bool]]
) -> None:
    usage, commands = _queued(U, usage_times), _queued(C, command_times)
    want = _all_at_once(usage, commands)
    al = Aligner()
    got: list[Arrival] = []
    iu = ic = 0
    for nu, nc, u_done, c_done in steps:
        al.usage.extend(usage[iu : iu + nu])
        al.commands.extend(commands[ic : ic + nc])
        iu, ic = min(iu + nu, len(usage)), min(ic + nc, len(commands))
        got += al.release(u_done and iu == len(usage), c_done and ic == len(commands))
        # what is held starts right after what was released (the watermark stops there)
        held = al.first_held()
        for topic, queue in ((U, usage), (C, commands)):
            if topic in held:
                taken = sum(1 for a in got if a.msg.topic == topic)
                assert held[topic] == queue[taken].msg.offset
    al.usage.extend(usage[iu:])
    al.commands.extend(commands[ic:])
    got += al.release(True, True)
    assert al.held() == 0
    assert got == want
