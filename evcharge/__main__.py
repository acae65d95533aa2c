import sys

from evcharge.cli import main

sys.exit(main())
