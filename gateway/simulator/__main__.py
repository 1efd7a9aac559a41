"""`python -m gateway.simulator ...` runs the SMSC simulator."""

import sys

from gateway.simulator.cli import main

sys.exit(main())
