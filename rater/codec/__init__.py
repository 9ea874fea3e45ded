"""Encoding of everything that crosses a process boundary.

* `rater.codec.avro`: Avro binary bodies, generated from schemas/*.avsc (hot path);
* `rater.codec.wire`: Confluent wire format (magic byte + schema id) and registry client;
* `rater.codec.jsonl`: JSON lines for the offline simulator and replay comparisons, in
  the shapes `rater.codec.jsonshape` derives from the Avro schemas;
* `rater.codec.validate`: plausibility checks of decoded usage records;
* `rater.codec.deadletter`: the dead-letter record.

Importing this package is cheap; `rater.codec.avro` reads the schema files on import.
"""

from rater.codec.deadletter import DeadLetter, dead_letter_for
from rater.codec.errors import DecodeError, EncodeError, ErrorClass, SchemaError

__all__ = [
    "DeadLetter",
    "DecodeError",
    "EncodeError",
    "ErrorClass",
    "SchemaError",
    "dead_letter_for",
]
