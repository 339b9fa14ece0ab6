"""Durable results, attestations and waivers.  SQLite by default (one file, WAL, one writer)."""
