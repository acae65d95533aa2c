"""SendLocalList and GetLocalListVersion in each version's wire format (1.6 Local Auth List
Management; 2.0.1 D01-D04, D08/D09)."""

from __future__ import annotations

from central_system.domain.authorization import IdTokenInfo
from central_system.domain.local_lists import LocalListChange, LocalListUpdate
from central_system.services.control_ports import LocalListAnswer
from central_system.transport.handlers import drop_none
from central_system.transport.ocppj import OcppVersion
from central_system.transport.v16 import id_tag_info
from central_system.transport.v201 import id_token_info
from central_system.transport.versioned import VersionedCommands

MAX_ID_TAG_16 = 20  # 1.6 IdToken is CiString20
# 2.0.1 requires a token type; an entry of the registry without one is taken for an RFID card.
DEFAULT_TOKEN_TYPE = "ISO14443"


def _info(change: LocalListChange) -> IdTokenInfo | None:
    entry = change.entry
    if entry is None:
        return None
    return IdTokenInfo(entry.status, entry.expires_at, entry.group_id)


class LocalListCommands(VersionedCommands):
    def max_token_length(self, station_id: str) -> int | None:
        """1.6 idTag is CiString20; 2.x IdTokenType.idToken is 36 (the registry's maximum)."""
        version = self.ocpp_version(station_id)
        if version is None:
            return None
        return MAX_ID_TAG_16 if version == OcppVersion.V16.value else None

    async def send_local_list(self, station_id: str, update: LocalListUpdate) -> LocalListAnswer:
        """D01/D02, TC_043: the update as the station's version spells it."""
        if self._version(station_id) is OcppVersion.V16:
            entries_16 = [
                drop_none(
                    {
                        "idTag": c.id_token,
                        "idTagInfo": id_tag_info(info) if (info := _info(c)) else None,
                    }
                )
                for c in update.changes
            ]
            payload = drop_none(
                {
                    "listVersion": update.version,
                    "updateType": update.update_type.value,
                    "localAuthorizationList": entries_16 or None,
                }
            )
            answer = await self._send(station_id, "SendLocalList", payload)
            return LocalListAnswer(answer.get("status"), answer)
        entries_2x = [
            drop_none(
                {
                    "idToken": {
                        "idToken": c.id_token,
                        "type": c.token_type or DEFAULT_TOKEN_TYPE,
                    },
                    "idTokenInfo": id_token_info(info) if (info := _info(c)) else None,
                }
            )
            for c in update.changes
        ]
        payload = drop_none(
            {
                "versionNumber": update.version,
                "updateType": update.update_type.value,
                "localAuthorizationList": entries_2x or None,
            }
        )
        answer = await self._send(station_id, "SendLocalList", payload)
        return LocalListAnswer(answer.get("status"), answer)

    async def get_local_list_version(self, station_id: str) -> int:
        """TC_042, D08/D09: 1.6 listVersion (-1: no local list support), 2.x versionNumber."""
        version = self._version(station_id)
        answer = await self._send(station_id, "GetLocalListVersion", {})
        if version is OcppVersion.V16:
            return int(answer["listVersion"])
        return int(answer["versionNumber"])
