"""``python -m kvsctl``: the same as the ``kvsctl`` console script."""
from kvsctl.cli import main

main()
