"""`python -m rater.cli`: the `rater` command."""

from rater.cli import main

main()
