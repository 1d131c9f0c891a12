"""``python -m loader_guard``: the same as ``loader-guard``."""

import sys

from loader_guard.run import main

sys.exit(main())
