"""Contracts that cross process boundaries: event and MQTT payload models, JSON Schemas, DBC."""
