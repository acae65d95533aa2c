"""The station's SQLite file: the queue keeps order and content across a reopen (a restarted
process), attempts are counted, and a failed write leaves nothing half done."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from charge_point.domain.local_auth import AuthorizationStatus, IdTokenInfo
from charge_point.store import StationStore

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_the_queue_survives_a_reopen_in_order_and_byte_for_byte(tmp_path: Path):
    path = tmp_path / "CP-1.db"
    store = StationStore(path)
    payloads = [{"seqNo": n, "value": 1.5 * n, "offline": True} for n in range(3)]
    with store.transaction():
        for payload in payloads:
            store.enqueue("TransactionEvent", payload, "tx-1", NOW)
    store.close()

    again = StationStore(path)
    queued = again.queued()
    assert [m.payload for m in queued] == payloads
    assert [m.action for m in queued] == ["TransactionEvent"] * 3
    assert again.queue_length() == 3
    assert again.has_queued("tx-1") and not again.has_queued("tx-2")
    head = again.queue_head()
    assert head is not None and head.payload == payloads[0]
    assert again.record_attempt(head.id) == 1
    assert again.record_attempt(head.id) == 2
    again.remove(head.id)
    assert again.queue_length() == 2
    assert again.queue_head().payload == payloads[1]  # type: ignore[union-attr]


def test_a_failing_transaction_writes_nothing(tmp_path: Path):
    store = StationStore(tmp_path / "CP-1.db", durable=False)

    def stop_half_way() -> None:
        with store.transaction():
            store.enqueue("StopTransaction", {"meterStop": 5}, "tx-1", NOW)
            store.save_register(1, 5)
            raise RuntimeError("the process dies here")

    with pytest.raises(RuntimeError):
        stop_half_way()
    assert store.queued() == []
    assert store.registers() == {}


def test_transaction_ids_sessions_registers_and_authorization_data(tmp_path: Path):
    store = StationStore(tmp_path / "CP-1.db")
    store.set_transaction_id("tx-1", "42")
    store.save_session(1, {"ref": "tx-1", "seqNo": 3})
    store.save_register(1, 1234)
    store.save_register(1, 1300)
    accepted = IdTokenInfo(AuthorizationStatus.ACCEPTED, NOW, "GROUP")
    store.cache("CARD", accepted, NOW)
    store.replace_local_list(7, {"A": accepted})
    store.put("profiles", [{"id": 1}])
    assert store.transaction_id("tx-1") == "42"
    assert store.sessions() == {1: {"ref": "tx-1", "seqNo": 3}}
    assert store.registers() == {1: 1300}
    assert store.cached("CARD") == (accepted, NOW)
    assert store.local_entry("A") == accepted
    assert store.get("local_list_version") == 7
    assert store.get("profiles") == [{"id": 1}]
    store.forget_transaction_id("tx-1")
    store.delete_session(1)
    store.clear_cache()
    assert store.transaction_id("tx-1") is None
    assert store.sessions() == {}
    assert store.cached("CARD") is None
