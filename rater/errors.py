"""Operational errors as one line a person can act on: what failed, where, what to try.

Every `rater` command ends in one of these exit codes (docs/operations.md):

| code | meaning |
| --- | --- |
| 0 | done |
| 1 | done, and what was checked has problems (`rater check`) |
| 2 | refused: a bad option, file, setting or input (nothing was changed) |
| 3 | a dependency (Kafka, Redis, the schema registry) could not be reached or refused |
| 4 | a bug: the message says so; `--debug` shows the traceback |

`describe` turns an exception into (code, line); `rater.cli.main` prints the line instead
of a traceback unless `--debug` is given.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Final

OK: Final = 0
PROBLEMS: Final = 1
REFUSED: Final = 2
UNAVAILABLE: Final = 3
BUG: Final = 4


class Unavailable(RuntimeError):
    """A dependency could not be reached or refused, after the retries that were due."""


class Refused(ValueError):
    """A setting or input that cannot be used (a Redis URL of another scheme, a topic
    that does not exist): exit code 2, the message says what to do."""


def redact_url(url: str) -> str:
    """`url` without its password (`rediss://user:secret@host` -> `rediss://user:***@host`)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", url, flags=re.I)


def describe(e: BaseException, kafka: str = "", redis_url: str = "") -> tuple[int, str]:
    """(exit code, one line) for an exception that reached the command line."""
    import redis
    from confluent_kafka import KafkaException

    redis_url = redact_url(redis_url)

    if isinstance(e, Unavailable):
        return UNAVAILABLE, str(e)
    if isinstance(e, Refused):
        return REFUSED, str(e)
    if isinstance(e, KafkaException):
        err: Any = e.args[0] if e.args else None
        name = err.name() if hasattr(err, "name") else type(e).__name__
        text = err.str() if hasattr(err, "str") else str(e)
        hint = ""
        if name in ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE"):
            hint = "; is Kafka running? (scripts/services.sh up, or set KAFKA_BOOTSTRAP_SERVERS)"
        elif name == "UNKNOWN_TOPIC_OR_PART":
            hint = "; create the topics with `rater topics`"
        elif name == "_AUTHENTICATION":
            hint = "; check sasl.username and the password (kafka_password_file)"
        elif name == "_SSL":
            hint = "; check ssl.ca.location and security.protocol"
        elif name == "MSG_SIZE_TOO_LARGE":
            hint = "; the message is larger than the broker's max.message.bytes"
        return UNAVAILABLE, f"Kafka at {kafka or 'the configured brokers'}: {name}: {text}{hint}"
    if isinstance(e, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return UNAVAILABLE, (
            f"Redis at {redis_url or 'the configured URL'} is not reachable: {e}; is it running? "
            "(scripts/services.sh up, or set REDIS_URL)"
        )
    if isinstance(e, redis.exceptions.RedisError):
        return UNAVAILABLE, f"Redis at {redis_url or 'the configured URL'}: {e}"
    if isinstance(e, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        return REFUSED, f"{e.filename}: {e.strerror}"
    if isinstance(e, OSError):
        return UNAVAILABLE, f"{e.filename or 'I/O'}: {e.strerror or e}"
    if isinstance(e, UnicodeDecodeError):
        return REFUSED, f"not UTF-8 text (byte {e.start}): {e.reason}"
    return BUG, f"internal error (a bug, please report it): {type(e).__name__}: {e}"


class Once(logging.Filter):
    """Lets a log message through once per `every_s` (librdkafka repeats a failed
    connection's message for every broker and every retry: hundreds of lines)."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # librdkafka's messages start with the broker and a counter; the text after the
        # last ": " says what happened
        key = re.sub(r"\d+", "#", record.getMessage().rsplit(": ", 1)[-1][:200])
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._seen[key] = now
        return True


def kafka_logger() -> logging.Logger:
    """The logger librdkafka's own messages go to (the `logger` client setting), with
    repeats suppressed."""
    log = logging.getLogger("rater.kafka")
    if not any(isinstance(f, Once) for f in log.filters):
        log.addFilter(Once())
    return log
