"""Replay and re-rating of recorded usage (docs/replay.md): `rater record` copies input
topics into a file, `rater snapshot` writes subscribers' state from Redis, `rater replay`
rates recorded input again through the shared pipeline, in isolation, and diffs the
result against the charges that were issued."""
