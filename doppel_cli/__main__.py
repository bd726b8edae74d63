"""`python -m doppel_cli ...` runs the `doppel` command."""

import sys

from doppel_cli.main import main

sys.exit(main())
