"""``python -m bench.api``: the order-entry benchmark (options: ``--help``)."""

from .cli import main

if __name__ == "__main__":
    main()
