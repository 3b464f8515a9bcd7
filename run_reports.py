#!/usr/bin/env python3
"""Weekly campaign reports: ``python run_reports.py --help``. All logic is in ``canvass``."""

import sys

from canvass.cli import main

if __name__ == "__main__":
    sys.exit(main())
