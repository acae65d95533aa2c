"""`python -m charge_point station|simulate ...`."""

import sys

from charge_point.cli import main

sys.exit(main())
