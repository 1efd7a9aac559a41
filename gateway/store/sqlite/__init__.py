"""The SQLite backend: one daemon, one file (store.py)."""
