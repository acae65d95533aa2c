"""Distances on the earth (haversine on a sphere of the mean earth radius) and radius search."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
MAX_RADIUS_KM = 500.0


class InvalidPosition(ValueError):
    """Latitude outside -90..90 or longitude outside -180..180."""


@dataclass(frozen=True, slots=True)
class Position:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latitude) and -90.0 <= self.latitude <= 90.0):
            raise InvalidPosition(f"latitude {self.latitude} is not within -90..90")
        if not (math.isfinite(self.longitude) and -180.0 <= self.longitude <= 180.0):
            raise InvalidPosition(f"longitude {self.longitude} is not within -180..180")


def distance_km(a: Position, b: Position) -> float:
    """Great-circle distance in km."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class BoundingBox:
    min_latitude: float
    max_latitude: float
    min_longitude: float
    max_longitude: float
    wraps: bool = False  # the box crosses the antimeridian: longitude >= min OR <= max


def bounding_box(center: Position, radius_km: float) -> BoundingBox:
    """A box that contains every point within `radius_km` of `center` (for an index pre-filter;
    the exact distance decides)."""
    angular = radius_km / EARTH_RADIUS_KM
    min_lat = center.latitude - math.degrees(angular)
    max_lat = center.latitude + math.degrees(angular)
    if min_lat <= -90.0 or max_lat >= 90.0:  # a pole is inside: every longitude
        return BoundingBox(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    dlon = math.degrees(
        math.asin(min(1.0, math.sin(angular) / math.cos(math.radians(center.latitude))))
    )
    min_lon, max_lon = center.longitude - dlon, center.longitude + dlon
    if min_lon < -180.0:
        return BoundingBox(min_lat, max_lat, min_lon + 360.0, max_lon, wraps=True)
    if max_lon > 180.0:
        return BoundingBox(min_lat, max_lat, min_lon, max_lon - 360.0, wraps=True)
    return BoundingBox(min_lat, max_lat, min_lon, max_lon)


def within_radius(center: Position, radius_km: float, point: Position) -> bool:
    return distance_km(center, point) <= radius_km
