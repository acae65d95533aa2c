"""REST API for the mobile app, operators and integrators (FastAPI)."""
