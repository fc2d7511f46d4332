"""`python3 -m nnfi_analysis ...` (see cli.py)."""
import sys

from .cli import main

sys.exit(main())
