"""``python -m gcx`` is the ``gcx`` command."""

from gcx.cli import main

main()
