"""Async use cases: load -> decide (domain) -> save (+ events) -> notify. No sockets, no SQL."""
