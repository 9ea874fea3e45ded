"""The jobs: each a source of inputs, a store and a place for the outputs, around the
one pipeline (`rater.pipeline`). `offline.py` rates files (simulate, and replay of a
recording), reading and writing them with `files.py` and summing up with `summary.py`;
the streaming service is `rater.stream`."""
