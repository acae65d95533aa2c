"""The station's OCPP adapters: 1.6J and 2.0.1 over websockets, built on the `ocpp` package.

OCPP version differences end here: the station controller (`charge_point.station`) calls the
same methods on either adapter and gets version-neutral answers back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charge_point.ocpp.base import OcppAdapter


def adapter_for(version: str) -> type[OcppAdapter]:
    if version == "1.6":
        from charge_point.ocpp.v16 import Ocpp16Adapter

        return Ocpp16Adapter
    if version == "2.0.1":
        from charge_point.ocpp.v201 import Ocpp201Adapter

        return Ocpp201Adapter
    raise ValueError(f"unsupported OCPP version {version!r}")


__all__ = ["adapter_for"]
