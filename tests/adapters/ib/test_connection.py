"""IbConnection against the fake gateway: handshake, fail-fast refusals, reconnect with backoff,
heartbeat, late replies; the state machine's moves."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from alluse.adapters.ib import ConnectionMachine, ConnState, IbConnection
from alluse.engine.errors import BrokerError
from tests.adapters.ib.conftest import FAST, reconnected
from tests.fakegateway import Book, FakeGateway


def test_connects_through_the_handshake_and_reconciles_before_it_counts_as_connected(fake, make_node):
    """Server version 178, the gateway's paper account, and the reconcile's requests (positions,
    all open orders, completed orders, executions) all before the state is "connected"."""
    node = make_node(fake)
    status = node.connection.status()
    assert ("connected", 178, "DU…56", 0) == (
        status["state"], status["server_version"], status["account"], status["reconnects"])
    ids = [f[0] for f in fake.messages(71) + fake.messages(61) + fake.messages(16)
           + fake.messages(99) + fake.messages(7)]
    assert ["71", "61", "61", "16", "99", "7"] == ids  # ib_async's own positions request, then ours


def test_client_id_in_use_fails_fast_with_a_clear_error(fake):
    """Error 326 ends the attempt at once, long before the connect timeout, naming the client id."""
    fake.occupy_client_id(17)
    connection = IbConnection(replace(FAST, port=fake.port, connect_timeout=3.0))
    started = time.monotonic()
    with pytest.raises(BrokerError, match=r"client id 17 is already in use .* \(error 326\)"):
        connection.start()
    assert time.monotonic() - started < 1.0
    assert ConnState.DISCONNECTED is connection.state


def test_nothing_listening_fails_with_the_address():
    """A closed port is a one-line BrokerError naming host and port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    connection = IbConnection(replace(FAST, port=port))
    with pytest.raises(BrokerError, match=f"cannot reach IB Gateway at 127.0.0.1:{port}"):
        connection.start()


@pytest.mark.parametrize(("account", "kind", "message"), [
    ("U7654321", "paper", "account U7…21 is a live account, and this is a paper session"),
    ("DU123456", "live", "account DU…56 is a paper account, and this is a live session"),
])
def test_the_gateway_account_must_match_the_session_kind(account, kind, message):
    """A paper session refuses a gateway logged into a live account, and vice versa."""
    with FakeGateway(book=Book(account=account)) as gateway:
        connection = IbConnection(replace(FAST, port=gateway.port, account_kind=kind))
        with pytest.raises(BrokerError, match=message):
            connection.start()


def test_an_account_the_gateway_does_not_manage_is_refused(fake):
    connection = IbConnection(replace(FAST, port=fake.port, account="DU999999"))
    with pytest.raises(BrokerError, match="account DU…99 is not managed by this gateway"):
        connection.start()


def test_a_lost_connection_is_reconnected_once_even_if_the_event_fires_twice(fake, make_node):
    """ib_async may report one drop twice: one reconnect, one new login."""
    node = make_node(fake)

    async def twice() -> None:
        node.connection.ib.disconnect()
        node.connection.ib.disconnectedEvent.emit()
    node.connection.call(twice, 2)
    assert reconnected(node)
    time.sleep(0.3)
    assert (1, 2) == (node.connection.reconnects, fake.logins)


def test_reconnect_backs_off_while_the_gateway_refuses(fake, make_node):
    """While the client id stays taken the attempts continue with growing delays; once it is
    free the connection comes back and reconciles."""
    node = make_node(fake)
    fake.occupy_client_id(17)
    fake.drop_connections()
    time.sleep(0.6)
    assert ConnState.CONNECTED is not node.connection.state
    attempts = len(fake.messages(71))
    assert 2 <= attempts <= 8  # 0.05, 0.1, 0.2, 0.2 … s apart, not a tight loop
    assert "error 326" in node.connection.last_error
    fake.free_client_id(17)
    assert node.connection.wait_until(ConnState.CONNECTED, timeout=2)


def test_an_unanswered_heartbeat_drops_the_connection_and_reconnects(fake, make_node):
    """A half-open gateway (reqCurrentTime unanswered) is noticed by the heartbeat."""
    node = make_node(fake, heartbeat_interval=0.1, heartbeat_timeout=0.2)
    fake.delay_reply(49)  # the next reqCurrentTime is never answered
    assert reconnected(node)


def test_a_late_reply_during_the_reconcile_costs_a_reconnect_not_a_decoder_error(fake, make_node):
    """Completed orders answered after the request timeout (ib_async #128): the attempt drops
    its session, the late reply never reaches the decoder, the next attempt succeeds."""
    node = make_node(fake)
    fake.delay_reply(99, seconds=1.5)
    fake.drop_connections()
    assert reconnected(node, timeout=6)
    assert "unanswered" in node.connection.last_error
    time.sleep(1.0)  # past the late reply's time


def test_the_state_machine_allows_only_its_moves():
    """Moves outside the table raise; a move to the current state is a no-op; listeners hear moves."""
    machine = ConnectionMachine()
    heard: list[tuple[ConnState, ConnState]] = []
    machine.listeners.append(lambda old, new, reason: heard.append((old, new)))
    with pytest.raises(BrokerError, match="cannot go from disconnected to connected"):
        machine.move(ConnState.CONNECTED, "skip")
    machine.move(ConnState.CONNECTING, "start")
    machine.move(ConnState.CONNECTING, "again")
    machine.move(ConnState.CONNECTED, "up")
    machine.move(ConnState.DEGRADED, "1100")
    assert [(ConnState.DISCONNECTED, ConnState.CONNECTING), (ConnState.CONNECTING, ConnState.CONNECTED),
            (ConnState.CONNECTED, ConnState.DEGRADED)] == heard


def test_sync_steps_cannot_be_added_once_started(fake, make_node):
    node = make_node(fake)
    with pytest.raises(BrokerError, match="once the IB connection has started"):
        node.connection.add_sync_step(lambda ib: None)  # type: ignore[arg-type, return-value]
