"""Harnesses for tests and benchmarks: the real daemon, the simulator, a webhook receiver.

Shipped in the package (as aiosmtpd ships its `testing/`) so the project's tests, its
benchmarks and an operator's own checks drive the gateway the same way:

- process.GatewayProcess: `smpp-gateway run` as a subprocess with its own config and store;
- simulator.SimulatorProcess: the bundled SMSC simulator as a subprocess, with its control API;
- receiver.WebhookReceiver: a real local HTTP server that records webhooks;
- waiting.wait_for: the only synchronisation, a condition polled until a deadline;
- postgres.fresh_database: a throw-away PostgreSQL database per test.

Nothing in the daemon imports this package.
"""
