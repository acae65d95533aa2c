"""AWS IoT Core limits the bridge keeps on every broker (developerguide/mqtt.html, the AWS IoT
Core quotas page): a message that breaks one would be refused, or close the connection."""

from __future__ import annotations

MAX_PAYLOAD_BYTES = 128 * 1024
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7  # 8 levels
MAX_CLIENT_ID_BYTES = 128
MAX_INFLIGHT = 100
MAX_PUBLISHES_PER_SECOND = 100  # per connection
MIN_KEEPALIVE = 30
MAX_KEEPALIVE = 1200
# Device shadow: clientToken at most 64 bytes, state document at most 8 KB.
MAX_CLIENT_TOKEN_BYTES = 64
MAX_SHADOW_STATE_BYTES = 8 * 1024


def clamp_keepalive(seconds: int) -> int:
    return min(max(seconds, MIN_KEEPALIVE), MAX_KEEPALIVE)


def clamp_inflight(count: int) -> int:
    return min(max(count, 1), MAX_INFLIGHT)


def topic_problem(topic: str) -> str | None:
    """Why AWS IoT Core would refuse a topic to publish to, or None."""
    encoded = topic.encode()
    if not topic:
        return "empty topic"
    if len(encoded) > MAX_TOPIC_BYTES:
        return f"topic is {len(encoded)} bytes, more than {MAX_TOPIC_BYTES}"
    slashes = topic.count("/")
    if slashes > MAX_TOPIC_SLASHES:
        return f"topic has {slashes} slashes, more than {MAX_TOPIC_SLASHES}"
    if topic.startswith("/"):
        return "topic starts with '/'"
    if "+" in topic or "#" in topic or "\x00" in topic:
        return "topic contains a wildcard or NUL"
    return None


def payload_problem(payload: bytes) -> str | None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return f"payload is {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}"
    return None
