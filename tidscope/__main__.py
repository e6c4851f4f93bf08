"""``python -m tidscope``."""

import sys

from tidscope.cli import main

sys.exit(main())
