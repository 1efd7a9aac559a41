"""The PostgreSQL backend: several daemons share one database (store.py)."""
