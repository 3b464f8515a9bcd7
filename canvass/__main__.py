"""``python -m canvass``: the same command line as ``run_reports.py``."""

import sys

from canvass.cli import main

sys.exit(main(prog="python -m canvass"))
