"""Dead-letter tools: `rater deadletters list | show | redrive`.

- `list` reads the dead-letter topic (read_committed, from the beginning to its current
  end, partitions assigned by hand: no consumer group is joined and no offset is
  committed) and gives one line per dead letter, filtered by reason, source topic,
  partition and offsets, and the source message's time.
- `show P:O` gives everything about one dead letter, its payload decoded when it decodes.
- `redrive` sends the chosen originals (payload and key, byte for byte) back to their
  source topic and partition, once: in one Kafka transaction with a *redrive record*
  per dead letter on `<dead-letter topic>.redriven` (compacted, keyed `P:O`), and a dead
  letter named there is never sent again.

One module a job: `letters` (the data and filters, no Kafka), `read` (the topics),
`show` (for a person and as JSON), `redrive` (sending back once) and `cli` (the thin
command line, `deadletters_app`). The functions take `Settings` and return data.
"""

from rater.stream.deadletters.cli import deadletters_app
from rater.stream.deadletters.letters import (
    REDRIVE_SUFFIX,
    Filter,
    Letter,
    Reading,
    Unreadable,
    parse_id,
    parse_ids,
    redrive_topic,
    select,
)
from rater.stream.deadletters.read import (
    list_dead_letters,
    read_all,
    read_dead_letters,
    read_redriven,
    show_dead_letter,
)
from rater.stream.deadletters.redrive import (
    RedriveError,
    RedriveResult,
    Sent,
    redrive,
    redrive_all,
    redrive_record,
    why_not,
)
from rater.stream.deadletters.show import (
    decode_payload,
    describe,
    format_detail,
    format_line,
    hex_dump,
    iso,
    summary,
)

__all__ = [
    "REDRIVE_SUFFIX",
    "Filter",
    "Letter",
    "Reading",
    "RedriveError",
    "RedriveResult",
    "Sent",
    "Unreadable",
    "deadletters_app",
    "decode_payload",
    "describe",
    "format_detail",
    "format_line",
    "hex_dump",
    "iso",
    "list_dead_letters",
    "parse_id",
    "parse_ids",
    "read_all",
    "read_dead_letters",
    "read_redriven",
    "redrive",
    "redrive_all",
    "redrive_record",
    "redrive_topic",
    "select",
    "show_dead_letter",
    "summary",
    "why_not",
]
