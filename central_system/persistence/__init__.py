"""SQLModel persistence (SQLite by default, PostgreSQL at scale) behind the service ports."""
