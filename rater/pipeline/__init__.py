"""The one pipeline every job runs: decode and check the inputs, order them
(`align`), rate them through the core (`batch`), and hand each partition's batch to a
store (`partition`). The jobs (`rater.jobs`, `rater.stream`) only bring the inputs, the
store and the place the outputs go. docs/pipeline.md draws it."""
