"""Cheap plausibility checks of decoded input, before it reaches the rating core.

A record that decodes fine can still be absurd (a corrupt counter in mediation, a clock
in the wrong century, a string field of megabytes). Such records go to the dead-letter
topic with the returned (error_class, message) instead of being rated.

Messages never repeat an input value of unbounded size: an oversized or malformed string
is shown by at most its first 40 characters and its length (`rater.codec.errors.preview`),
and the record id is shown only once its length has been checked.
"""

from __future__ import annotations

from typing import Final

from rater.codec.errors import ErrorClass, preview
from rater.core.inputs import Command, Tick, UsageRecord

MAX_BYTES_PER_RECORD: Final = 1 << 40  # 1 TiB in one record
MAX_DURATION_S: Final = 48 * 3600
MIN_START_TIME_MS: Final = 946_684_800_000  # 2000-01-01T00:00:00Z
# string lengths, in characters
MAX_RECORD_ID_LEN: Final = 128
MAX_MSISDN_LEN: Final = 32  # E.164 has at most 15 digits: room for prefixes
MAX_APP_ID_LEN: Final = 128
MAX_PROVINCE_LEN: Final = 16
MAX_RAT_LEN: Final = 16
PREVIEW_CHARS: Final = 40  # how much of a bad string value a message shows

_INVALID: Final = ErrorClass.INVALID_VALUE.value
_FUTURE: Final = ErrorClass.FUTURE_TIMESTAMP.value
_SHOWN_INT: Final = 10**30  # larger ints (never from Avro or JSON input) are not printed


def check_usage(rec: UsageRecord, now_ms: int | None, max_future_ms: int) -> tuple[str, str] | None:
    """None if `rec` is plausible, else (error_class, message) with error_class
    INVALID_VALUE or FUTURE_TIMESTAMP.

    Flags: empty record_id or msisdn; record_id longer than 128 characters, msisdn longer
    than 32, app_id than 128, province or rat than 16; an msisdn that is not ASCII digits
    with an optional leading '+'; uplink/downlink bytes negative or above 1 TiB; duration
    negative or above 48 h; negative sequence; start_time before 2000-01-01 or, when
    `now_ms` is given, more than `max_future_ms` after it. A data record with a nonzero
    duration is fine. A message names the field and the limit, and shows at most the
    first 40 characters of a bad string value (with its length).
    """
    rid = rec.record_id
    if not rid:
        return _INVALID, "empty record_id"
    if len(rid) > MAX_RECORD_ID_LEN:
        return _INVALID, _too_long("record_id", rid, MAX_RECORD_ID_LEN)
    # from here on `rid` is at most 128 characters: messages may show it whole
    msisdn = rec.msisdn
    if not msisdn:
        return _INVALID, f"record {rid}: empty msisdn"
    if len(msisdn) > MAX_MSISDN_LEN:
        return _INVALID, f"record {rid}: " + _too_long("msisdn", msisdn, MAX_MSISDN_LEN)
    # ASCII first: str.isdigit() also accepts other scripts' digits and superscripts
    if not (msisdn.isascii() and (msisdn.isdigit() or (msisdn[0] == "+" and msisdn[1:].isdigit()))):
        return _INVALID, (
            f"record {rid}: msisdn {preview(msisdn, PREVIEW_CHARS)} is not digits 0-9 "
            "with an optional leading '+'"
        )
    app_id = rec.app_id
    if app_id is not None and len(app_id) > MAX_APP_ID_LEN:
        return _INVALID, f"record {rid}: " + _too_long("app_id", app_id, MAX_APP_ID_LEN)
    if len(rec.province) > MAX_PROVINCE_LEN:
        return _INVALID, f"record {rid}: " + _too_long("province", rec.province, MAX_PROVINCE_LEN)
    if len(rec.rat) > MAX_RAT_LEN:
        return _INVALID, f"record {rid}: " + _too_long("rat", rec.rat, MAX_RAT_LEN)
    up, down = rec.uplink_bytes, rec.downlink_bytes
    if not (0 <= up <= MAX_BYTES_PER_RECORD and 0 <= down <= MAX_BYTES_PER_RECORD):
        return _INVALID, (
            f"record {rid}: bytes out of range [0, {MAX_BYTES_PER_RECORD}] "
            f"(uplink {_int(up)}, downlink {_int(down)})"
        )
    if not 0 <= rec.duration_s <= MAX_DURATION_S:
        return _INVALID, (
            f"record {rid}: duration_s {_int(rec.duration_s)} out of range [0, {MAX_DURATION_S}]"
        )
    if rec.sequence < 0:
        return _INVALID, f"record {rid}: negative sequence {_int(rec.sequence)}"
    start = rec.start_time
    if start < MIN_START_TIME_MS:
        return _INVALID, f"record {rid}: start_time {_int(start)} is before 2000-01-01"
    if now_ms is not None and start > now_ms + max_future_ms:
        return _FUTURE, (
            # not the distance from now: the same record gets the same dead letter in
            # every job (simulate, stream, replay), byte for byte
            f"record {rid}: start_time {_int(start)} is more than {max_future_ms} ms "
            "ahead of the rater's clock"
        )
    return None


def _too_long(field: str, value: str, limit: int) -> str:
    return f"{field} too long: {len(value)} chars, limit {limit}: {preview(value, PREVIEW_CHARS)}"


def _int(v: int) -> str:
    """`v` as text, or a short description if it is absurdly large (str() of an int of
    more than 4300 digits even raises ValueError)."""
    if -_SHOWN_INT < v < _SHOWN_INT:
        return str(v)
    return f"<{v.bit_length()}-bit int>"


MAX_COMMAND_ID_LEN: Final = 128
MAX_PRODUCT_LEN: Final = 64  # plan and pack codes


def check_command(cmd: Command | Tick) -> tuple[str, str] | None:
    """None if `cmd` is within limits, else (INVALID_VALUE, message). Bounds every string
    a command carries into the outputs (ids, MSISDNs, product codes), so that no command
    can make an event larger than the broker accepts. Whether the codes exist is the
    core's business (a rejected order)."""
    if isinstance(cmd, Tick):
        return None
    cid = cmd.command_id
    if not cid:
        return _INVALID, "empty command_id"
    if len(cid) > MAX_COMMAND_ID_LEN:
        return _INVALID, _too_long("command_id", cid, MAX_COMMAND_ID_LEN)
    for name in ("msisdn", "owner", "member"):
        v = getattr(cmd, name, None)
        if v is None:
            continue
        if not v and name == "msisdn":
            return _INVALID, f"command {cid}: empty msisdn"
        if len(v) > MAX_MSISDN_LEN:
            return _INVALID, f"command {cid}: " + _too_long(name, v, MAX_MSISDN_LEN)
    for name in ("plan", "product"):
        v = getattr(cmd, name, None)
        if isinstance(v, str) and len(v) > MAX_PRODUCT_LEN:
            return _INVALID, f"command {cid}: " + _too_long(name, v, MAX_PRODUCT_LEN)
    for p in getattr(cmd, "packs", ()):
        if len(p) > MAX_PRODUCT_LEN:
            return _INVALID, f"command {cid}: " + _too_long("packs", p, MAX_PRODUCT_LEN)
    home = getattr(cmd, "home_province", None)
    if isinstance(home, str) and len(home) > MAX_PROVINCE_LEN:
        return _INVALID, f"command {cid}: " + _too_long("home_province", home, MAX_PROVINCE_LEN)
    return None
