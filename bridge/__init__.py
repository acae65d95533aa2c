"""Republishes central-system events to an MQTT broker (AWS IoT Core style), losing nothing."""
