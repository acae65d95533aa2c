"""A customer's data on stations (2.0.1 N09/N10 CustomerInformation): reports and clearing.

Clearing what a station holds about a customer identified by an id token also takes that token
out of the local authorization lists, so that no station keeps it (TC_N_46).
"""

from __future__ import annotations

import contextlib
from typing import Any

from central_system.domain.authorization import IdToken
from central_system.services.errors import NotFound
from central_system.services.local_lists import LocalListService
from central_system.services.ports import StationOperations


class CustomerDataService:
    def __init__(self, control: StationOperations, local_lists: LocalListService) -> None:
        self._control = control
        self._local_lists = local_lists

    async def clear(
        self,
        station_id: str,
        *,
        request_id: int,
        id_token: IdToken | None = None,
        customer_identifier: str | None = None,
        report: bool = False,
    ) -> dict[str, Any]:
        """Send CustomerInformation(clear); on Accepted, a cleared token leaves every local
        list (a differential update to each station that holds one). Returns the station's
        answer; raises the station errors, or ValueError for a 1.6 station."""
        if id_token is None and customer_identifier is None:
            raise ValueError("name the customer by id token or customer identifier")
        payload: dict[str, Any] = {"requestId": request_id, "report": report, "clear": True}
        if id_token is not None:
            payload["idToken"] = {"idToken": id_token.value, "type": id_token.type or "Central"}
        if customer_identifier is not None:
            payload["customerIdentifier"] = customer_identifier
        answer = await self._control.send(station_id, "CustomerInformation", payload)
        if answer.get("status") == "Accepted" and id_token is not None:
            # A token the registry does not hold is in no local list.
            with contextlib.suppress(NotFound):
                await self._local_lists.mark_token(id_token.value, False)
        return answer
