"""``python -m kdistill``: the CLI, also the entry point torchrun starts in every process."""

import sys

from kdistill.cli import main

sys.exit(main())
