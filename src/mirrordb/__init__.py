"""mirrordb: a PostgreSQL-compatible database server in Python, built for physical streaming
replication. See ARCHITECTURE.md at the repository root for the map of subsystems."""

__version__ = "0.1.0"
