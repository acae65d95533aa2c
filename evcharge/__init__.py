"""The `evcharge` command: one console script for every component (DESIGN.md section 3)."""
