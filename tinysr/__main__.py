"""``python -m tinysr``: the command line lives in :mod:`tinysr.cli`."""

import sys

from tinysr.cli import main

if __name__ == "__main__":
    sys.exit(main())
