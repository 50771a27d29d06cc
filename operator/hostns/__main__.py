"""`python -m hostns`: the same command as the `hostns` console script."""

import sys

from hostns.cli import main

sys.exit(main())
