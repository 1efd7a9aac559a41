"""Bundled SMSC simulator (SMPP 3.4, SMSC side) for integration tests and benchmarks.

Run it with `python -m gateway.simulator --help` (or `smpp-gateway smsc-sim`), or
in-process via `server.SimulatorServer(config.SimConfig(...))`. The package imports nothing
itself: `smpp-gateway run` builds its command line with the simulator's options and
should not pay for asyncio and the SMSC at every start.
"""
