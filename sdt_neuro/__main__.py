"""``python -m sdt_neuro``: the command line (what ``torchrun -m sdt_neuro train ...`` starts)."""

import sys

from sdt_neuro.cli import main

if __name__ == "__main__":
    sys.exit(main())
