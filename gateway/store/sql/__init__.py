"""SQL both backends run: PostgreSQL runs these statements through a thin translation
layer (postgres/conn.py), so each query exists once."""
