"""``python -m feedsvc``: the ``feedsvc`` command."""

from .cli import main

main(prog_name="feedsvc")
