"""The fuzz targets (tests/fuzz/targets.py) on their seed corpora and on the inputs the
fuzzer found that broke them once, in process (no fuzzer needed): each input's decoding
gives a valid input or a dead letter, nothing else."""

from __future__ import annotations

import base64

import pytest

from rater.codec import avro
from rater.codec.errors import DecodeError
from rater.codec.wire import MAX_FAILED_IDS, FramedCodec, RegistryError, frame
from tests.fuzz import targets

# (target, base64 of the input, what broke)
FOUND = [
    # a command framed with the command schema's id read by the usage codec (and the other
    # way round): fastavro's SchemaResolutionError printed both schemas whole, 14 KB of
    # text in a DecodeError that every such dead letter then carried (cut at 1000 chars)
    ("framed", "AAAAAAIAAICAy52wZxA=", "error text of 14374 chars"),
    ("arrive", "IwAAAAABchYxMDAwMDAxtWedsw==", "error text of 14370 chars"),
]


@pytest.mark.parametrize("target", list(targets.TARGETS))
def test_every_seed_passes(target: str) -> None:
    seeds = list(targets.seeds(target))
    assert seeds
    for data in seeds:
        targets.TARGETS[target](data)


@pytest.mark.parametrize(("target", "data", "broke"), FOUND, ids=lambda v: str(v)[:12])
def test_inputs_the_fuzzer_found(target: str, data: str, broke: str) -> None:
    targets.TARGETS[target](base64.b64decode(data))


def test_a_schema_mismatch_message_is_short() -> None:
    body = avro.encode_command(targets.example_commands()[0])
    with pytest.raises(DecodeError) as info:
        targets.FRAMED_USAGE.decode(frame(targets.FRAMED_COMMAND.schema_id, body))
    assert info.value.reason_class == "SCHEMA_MISMATCH"
    assert len(info.value.message) < 300, info.value.message


class _CountingRegistry:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def get_schema(self, schema_id: int) -> str:
        self.asked.append(schema_id)
        raise RegistryError("not found", 404, 40403)


def test_unknown_schema_ids_are_remembered_within_a_bound() -> None:
    """Found by the fuzzer's `framed` target: every new unknown id was remembered for
    ever, so input with ever new ids grew the memory without end."""
    registry = _CountingRegistry()
    codec = FramedCodec(avro.USAGE, 1, registry)  # type: ignore[arg-type]
    n = MAX_FAILED_IDS + 500
    for sid in range(10, 10 + n):
        with pytest.raises(DecodeError, match="unknown"):
            codec.decode(frame(sid, b"\x00"))
    assert len(codec._failed) == MAX_FAILED_IDS
    assert len(codec._decoders) == 1
    # a recent one is not asked again; the oldest were forgotten and are asked again
    with pytest.raises(DecodeError):
        codec.decode(frame(10 + n - 1, b""))
    with pytest.raises(DecodeError):
        codec.decode(frame(10, b""))
    assert registry.asked == [*range(10, 10 + n), 10]
