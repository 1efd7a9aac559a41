"""Bundled SMSC simulator (SMPP 3.4, SMSC side) for integration tests and benchmarks.

Run it with `python -m gateway.simulator --help` (or `smpp-gateway smsc-sim`), or
in-process via `SimulatorServer(SimConfig(...))`.
"""

from gateway.simulator.config import SimConfig
from gateway.simulator.server import SimulatorServer, serve
from gateway.simulator.smsc import Smsc

__all__ = ["SimConfig", "SimulatorServer", "Smsc", "serve"]
