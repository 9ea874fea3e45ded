"""The stores' form of an account (rater.store.accounts): what Redis keeps for every
subscriber. It is positional, so a golden copy pins it byte for byte: reordering a
field of `Line` or `Bucket` would make every stored account read back wrong."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rater.core.state import split_hot
from rater.store.accounts import NotAnAccount, decode, encode

from ..core.test_state import OWNER, _account

GOLDEN_COLD = bytes.fromhex(
    "93ab3133383030303030303031cf0000019df3b7c40092dc001cab3133383030303030303031ab31"
    "33383030303030303031a350353805a24744cf0000018bcfe56800a741525245415253cf0000019d"
    "5938fc00cf0000019df3b7c400aa323032362d30342d30351ec2939daa5035382e646174612331a3"
    "503538a4706c616ea464617461cec000000000cf0000019d5938fc00cf0000019df3b7c400c2c264"
    "cf0000018bcfe56800009daa5035382e646174612330a3503538a4706c616ea464617461ce400000"
    "0000cf0000019d5938fc00cf0000019df3b7c400c3c232cf0000018b944a9e00009da55431302332"
    "a3543130a5746f707570a5766f6963656400cf0000019d5e161a00cf0000019df3b7c400c2c36400"
    "009294a3543130cf0000019d5e161a00a55431302332c394a24431cf0000019d640bfb00c0c29296"
    "a24431c26403ccc8c396a3503538c3cd16a80000c292a24d35a3543130a3503838000000c3a36361"
    "70020700c091ab313338303030303030303203dc001cab3133383030303030303032ab3133383030"
    "303030303031a350353805a2424acf0000018c0b803200a64143544956450000a01ec390909090c0"
    "000000c2a0000000ab31333830303030303030319001"
)
GOLDEN_HOT = bytes.fromhex(
    "92cf0000019d6a01dc009296cf0000000100000000ce001000001dcf0000019d6969458093cd3039"
    "07039350000096000000009090"
)


def test_the_form_does_not_drift() -> None:
    assert encode(_account()) == (GOLDEN_COLD, GOLDEN_HOT)


def test_an_account_reads_back_as_it_was_written_except_its_record_keys() -> None:
    acct = _account()
    back = decode(*encode(acct))
    assert back.to_dict(with_seen=False) == acct.to_dict(with_seen=False)
    assert all(line.seen == {} for line in back.lines.values())  # kept apart (Redis)


def test_encoding_leaves_the_account_as_it_was() -> None:
    """The cold part is written with the hot counters at 0: they are put back."""
    acct = _account()
    encode(acct)
    assert acct == _account()


def test_only_a_change_outside_the_hot_counters_changes_the_cold_part() -> None:
    acct = _account()
    cold, hot = encode(acct)
    owner = acct.lines[OWNER]
    owner.buckets[0].used += 1
    owner.buckets[0].notified = 100
    owner.data_used += 1
    owner.overage_fen += 1
    owner.last_usage += 1
    acct.clock += 1
    same, other_hot = encode(acct)
    assert same == cold and other_hot != hot
    owner.buckets[0].valid_to += 1
    assert encode(acct)[0] != cold


def test_an_account_stored_as_json_by_an_earlier_version_is_still_read() -> None:
    d = _account().to_dict(with_seen=False)
    hot = split_hot(d)
    back = decode(orjson.dumps(d), orjson.dumps(hot))
    assert back.to_dict(with_seen=False) == _account().to_dict(with_seen=False)


def test_the_cold_part_is_a_third_of_its_json() -> None:
    """What Redis holds per subscriber, the figure issue 11's memory target is about."""
    d = _account().to_dict(with_seen=False)
    split_hot(d)
    assert len(encode(_account())[0]) * 3 < len(orjson.dumps(d))


@pytest.mark.parametrize(
    ("cold", "hot"),
    [
        (b"\x93\xa1k\x00", GOLDEN_HOT),  # a cold part cut short
        (GOLDEN_COLD, b"\x92\x00\x90"),  # hot counters for no line
        (GOLDEN_COLD[:-3], GOLDEN_HOT),
        (b"\xc1", GOLDEN_HOT),  # not MessagePack
        (b'{"key": "1"}', b"[1, []]"),  # JSON, but not an account's
        (b"{not json", GOLDEN_HOT),
    ],
)
def test_bytes_that_are_not_an_account_are_refused_by_name(cold: bytes, hot: bytes) -> None:
    with pytest.raises(NotAnAccount, match="not a stored account"):
        decode(cold, hot)


@settings(max_examples=300, deadline=None)
@given(
    part=st.sampled_from(["cold", "hot"]),
    at=st.integers(min_value=0),
    cut=st.integers(min_value=0, max_value=8),
    insert=st.binary(max_size=8),
)
def test_a_damaged_stored_account_is_refused_by_name_or_read_never_a_traceback(
    part: str, at: int, cut: int, insert: bytes
) -> None:
    """Whatever Redis hands back (a value cut, overwritten, written by another program),
    reading it gives an account or NotAnAccount, which the store names with its key."""
    parts = {"cold": GOLDEN_COLD, "hot": GOLDEN_HOT}
    b = parts[part]
    i = at % (len(b) + 1)
    parts[part] = b[:i] + insert + b[i + cut :]
    try:
        acct = decode(parts["cold"], parts["hot"])
    except NotAnAccount as e:
        assert "not a stored account" in str(e)
    else:
        assert acct.lines and all(line.msisdn in acct.lines for line in acct.lines.values())
