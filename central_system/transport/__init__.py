"""OCPP-J over websockets: framing, validation, per-version handlers and the station gateway.

OCPP version differences end here: handlers translate wire messages into version-neutral
service calls, and version-neutral commands into each version's wire message.
"""
