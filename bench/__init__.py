"""Benchmark harness: throughput, latency and memory of the gateway against the ceiling.

`python -m bench` (or `make bench`) starts the bundled simulator, the daemon under
gunicorn and a webhook receiver on loopback, runs bounded scenarios and writes a JSON
result plus a Markdown table to bench/results/. See bench/README.md.
"""
