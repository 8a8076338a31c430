"""`python -m edgesim`: the same as the `edgesim` command."""

import sys

from .cli import main

sys.exit(main())
