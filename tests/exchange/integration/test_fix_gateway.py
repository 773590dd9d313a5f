"""The FIX gateway on 127.0.0.1 port 0, driven by simplefix (an independent codec) over real
sockets: logon, sequence recovery, rejects, restarts, an order's life, rate limits, drop copy."""

from __future__ import annotations

import asyncio

import pytest
import simplefix

from scalebox.exchange.fix.gateway import FixGateway
from tests.exchange.integration.conftest import PASSWORDS, GatewayStarter, RunningVenue
from tests.exchange.integration.fix_client import FixClient, msg_type, new_order, text

pytestmark = pytest.mark.integration


async def logged_on(gateway: FixGateway, sender: str, **logon: object) -> FixClient:
    client = await FixClient.connect(gateway.port, sender)
    reply = await client.logon(PASSWORDS[sender], **logon)  # type: ignore[arg-type]
    assert msg_type(reply) == "A", reply
    return client


async def test_logon_with_a_bad_password_is_refused_with_logout(fix_gateway):
    client = await FixClient.connect(fix_gateway.port, "alice")
    try:
        reply = await client.logon("wrong password")
        assert msg_type(reply) == "5"
        assert "logon refused" in (text(reply, 58) or "")
        assert await client.closed_by_peer()
    finally:
        await client.close()
    assert fix_gateway.sessions() == []  # a refused logon touches no session


async def test_logon_then_logout_handshake(fix_gateway):
    client = await FixClient.connect(fix_gateway.port, "alice")
    try:
        reply = await client.logon(PASSWORDS["alice"], heartbeat_seconds=45)
        assert (msg_type(reply), text(reply, 34), text(reply, 108), text(reply, 56)) == (
            "A",
            "1",
            "45",
            "alice",
        )
        [stats] = fix_gateway.sessions()
        assert (stats.participant, stats.connected, stats.next_in_seq, stats.next_out_seq) == (
            "alice",
            True,
            2,
            2,
        )
        await client.send("5")
        assert text(await client.expect("5"), 34) == "2"
        assert await client.closed_by_peer()
    finally:
        await client.close()


async def test_a_quiet_session_gets_heartbeats_then_a_test_request(start_gateway: GatewayStarter):
    gateway = await start_gateway(tick_seconds=0.05)
    client = await logged_on(gateway, "alice", heartbeat_seconds=1)
    try:
        assert msg_type(await client.receive()) == "0"  # we sent nothing for HeartBtInt
        request = await client.expect("1")  # and the gateway heard nothing for 1.2 x HeartBtInt + 1 s
        await client.send("0", [(112, text(request, 112) or "")])
        await client.send("5")
        await client.expect("5")
    finally:
        await client.close()


async def test_sequence_gap_is_asked_for_and_recovered(fix_gateway):
    client = await logged_on(fix_gateway, "alice")
    try:
        await client.send("1", [(112, "after-gap")], seq=5)  # 2..4 never arrive
        request = await client.expect("2")
        assert (text(request, 7), text(request, 16)) == ("2", "0")
        # Our 2..4 were session-level only: one gap fill covers them, then the held 5 is processed.
        await client.send("4", [(123, "Y"), (36, 5)], seq=2, poss_dup=True)
        assert text(await client.expect("0"), 112) == "after-gap"
        client.next_seq = 6
        await client.send("1", [(112, "in-order")])
        assert text(await client.expect("0"), 112) == "in-order"
    finally:
        await client.close()


async def test_garbled_messages_are_rejected_and_use_up_their_number(fix_gateway):
    client = await logged_on(fix_gateway, "alice")
    try:
        frame = client.build("1", [(112, "x")]).encode()  # MsgSeqNum 2
        checksum_at = frame.rindex(b"10=") + 3
        bad = (
            frame[:checksum_at] + b"%03d" % ((int(frame[checksum_at : checksum_at + 3]) + 1) % 256) + b"\x01"
        )
        await client.send_raw(bad)
        reject = await client.expect("3")
        assert (text(reject, 45), text(reject, 373), text(reject, 371)) == ("2", "5", "10")
        await client.send("D", [(55, "ACME"), (54, 1), (38, 10), (40, 2), (44, "100")])  # no ClOrdID
        reject = await client.expect("3")
        assert (text(reject, 45), text(reject, 373), text(reject, 371), text(reject, 372)) == (
            "3",
            "1",
            "11",
            "D",
        )
        await client.send("1", [(112, "still-in-sequence")])  # MsgSeqNum 4
        assert text(await client.expect("0"), 112) == "still-in-sequence"
    finally:
        await client.close()


async def test_reconnect_resumes_numbers_and_too_low_is_refused(start_gateway: GatewayStarter):
    gateway = await start_gateway()
    client = await logged_on(gateway, "alice")  # ours: 1; theirs: Logon 1
    await client.send("1", [(112, "t")])  # ours: 2; theirs: Heartbeat 2
    await client.expect("0")
    await client.send("5")  # ours: 3; theirs: Logout 3
    await client.expect("5")
    await client.close()

    again = await FixClient.connect(gateway.port, "alice", next_seq=4)
    reply = await again.logon(PASSWORDS["alice"])
    assert (msg_type(reply), text(reply, 34)) == ("A", "4")
    await again.send("5")  # ours: 5; theirs: Logout 5
    await again.expect("5")
    assert await again.closed_by_peer()
    await again.close()

    await gateway.close(timeout_seconds=0)
    restarted = await start_gateway()  # same store directory
    stale = await FixClient.connect(restarted.port, "alice", next_seq=4)
    refusal = await stale.logon(PASSWORDS["alice"])
    assert msg_type(refusal) == "5"
    assert "MsgSeqNum too low" in (text(refusal, 58) or "")
    await stale.close()

    resumed = await FixClient.connect(restarted.port, "alice", next_seq=6)
    try:
        reply = await resumed.logon(PASSWORDS["alice"])
        assert (msg_type(reply), text(reply, 34)) == ("A", "7")  # 6 went to the refusing Logout
    finally:
        await resumed.close()


async def test_reset_seq_num_flag_starts_both_sides_at_one(fix_gateway):
    client = await logged_on(fix_gateway, "alice")
    await client.send("1", [(112, "t")])
    await client.expect("0")
    await client.close()
    fresh = await FixClient.connect(fix_gateway.port, "alice")
    try:
        reply = await fresh.logon(PASSWORDS["alice"], reset=True)
        assert (msg_type(reply), text(reply, 34), text(reply, 141)) == ("A", "1", "Y")
    finally:
        await fresh.close()


async def test_order_life_new_partial_fill_replace_cancel(fix_gateway):
    alice = await logged_on(fix_gateway, "alice")
    bob = await logged_on(fix_gateway, "bob")
    try:
        await alice.send("D", new_order("a1", 1, 100, "100.00"))
        new = await alice.expect("8")
        assert fields(new, 11, 150, 39, 151, 14, 44, 38) == ("a1", "0", "0", "100", "0", "100", "100")
        order_id = text(new, 37)

        await bob.send("D", new_order("b1", 2, 40, "100"))
        assert fields(await bob.expect("8"), 150, 39) == ("0", "0")
        assert fields(await bob.expect("8"), 150, 39, 32, 31, 151, 14) == ("F", "2", "40", "100", "0", "40")
        fill = await alice.expect("8")
        assert fields(fill, 37, 150, 39, 32, 31, 151, 14, 6) == (
            order_id,
            "F",
            "1",
            "40",
            "100",
            "60",
            "40",
            "100",
        )
        assert text(fill, 1003) is not None

        await alice.send("G", [(11, "a2"), (41, "a1"), (55, "ACME"), (54, 1), (38, 80), (40, 2), (44, "100")])
        replaced = await alice.expect("8")
        assert fields(replaced, 11, 41, 150, 39, 38, 151, 14) == ("a2", "a1", "5", "1", "80", "40", "40")

        await alice.send("H", [(11, "a2"), (55, "ACME"), (54, 1)])
        status = await alice.expect("8")
        assert fields(status, 37, 150, 39, 151, 14, 6) == (order_id, "I", "1", "40", "40", "100")

        await alice.send("F", [(11, "a3"), (41, "a2"), (55, "ACME"), (54, 1)])
        canceled = await alice.expect("8")
        assert fields(canceled, 11, 41, 150, 39, 151, 14) == ("a3", "a2", "4", "4", "0", "40")

        await alice.send("H", [(11, "a3"), (55, "ACME"), (54, 1)])
        unknown = await alice.expect("8")
        assert fields(unknown, 150, 39, 103) == ("I", "8", "5")
    finally:
        await alice.close()
        await bob.close()


async def test_cancel_of_an_unknown_order_gets_order_cancel_reject(fix_gateway):
    client = await logged_on(fix_gateway, "alice")
    try:
        await client.send("F", [(11, "c1"), (41, "never-sent"), (55, "ACME"), (54, 1)])
        reject = await client.expect("9")
        assert fields(reject, 11, 41, 39, 434, 102) == ("c1", "never-sent", "8", "1", "1")
        await client.send("G", [(11, "c2"), (41, "never-sent"), (55, "ACME"), (54, 1), (38, 5), (44, "100")])
        assert fields(await client.expect("9"), 434, 102) == ("2", "1")
    finally:
        await client.close()


async def test_business_rejects_price_off_tick_and_unsupported_message(fix_gateway):
    client = await logged_on(fix_gateway, "alice")
    try:
        await client.send("D", new_order("x1", 1, 10, "100.005"))
        assert fields(await client.expect("8"), 11, 150, 39, 103) == ("x1", "8", "8", "99")
        await client.send("D", new_order("x2", 1, 10, "150.00"))  # outside the 10% collar: the engine says no
        rejected = await client.expect("8")
        assert fields(rejected, 11, 150, 39) == ("x2", "8", "8")
        assert "collar" in (text(rejected, 58) or "")
        await client.send("R", [(131, "quote-please")])
        assert fields(await client.expect("j"), 372, 380) == ("R", "3")
    finally:
        await client.close()


async def test_reports_for_a_disconnected_session_are_stored_and_resent(fix_gateway):
    alice = await logged_on(fix_gateway, "alice")
    await alice.send("D", new_order("rest", 2, 10, "101"))
    await alice.expect("8")
    await alice.close()  # ours 2, theirs 2 (Logon, ExecutionReport)
    bob = await logged_on(fix_gateway, "bob")
    try:
        await bob.send("D", new_order("take", 1, 10, "101"))
        await bob.expect("8")
        await bob.expect("8")

        alice = await FixClient.connect(fix_gateway.port, "alice", next_seq=3)
        reply = await alice.logon(PASSWORDS["alice"])
        assert text(reply, 34) == "4"  # 3 is the fill stored while alice was away
        await alice.send("2", [(7, 3), (16, 3)])
        resent = await alice.expect("8")
        assert fields(resent, 34, 43, 11, 150, 39) == ("3", "Y", "rest", "F", "2")
        assert text(resent, 122) is not None
    finally:
        await alice.close()
        await bob.close()


async def test_orders_over_the_rate_limit_are_rejected(start_gateway: GatewayStarter):
    gateway = await start_gateway(fix_messages_per_second=3)
    client = await logged_on(gateway, "alice")
    try:
        burst = b"".join(client.build("D", new_order(f"r{i}", 1, 1, "99")).encode() for i in range(12))
        await client.send_raw(burst)
        reports = [await client.expect("8") for _ in range(12)]
        rejected = [r for r in reports if text(r, 39) == "8"]
        accepted = [r for r in reports if text(r, 150) == "0"]
        assert len(rejected) + len(accepted) == 12
        assert len(rejected) >= 6
        assert all("rate limit" in (text(r, 58) or "") for r in rejected)
    finally:
        await client.close()


async def test_drop_copy_receives_every_report_and_cannot_trade(fix_gateway, running_venue: RunningVenue):
    running_venue.allow_drop_copy("alice")
    copy = await FixClient.connect(fix_gateway.port, "alice-dc")
    reply = await copy.logon(PASSWORDS["alice"], extra=[(57, "DROPCOPY"), (553, "alice")])
    assert msg_type(reply) == "A"
    alice = await logged_on(fix_gateway, "alice")
    try:
        await alice.send("D", new_order("dc1", 1, 5, "99"))
        original, duplicate = await alice.expect("8"), await copy.expect("8")
        assert text(original, 17) == text(duplicate, 17)
        assert fields(duplicate, 11, 150, 56) == ("dc1", "0", "alice-dc")

        await alice.send("D", new_order("off-tick", 1, 5, "99.999"))  # refused by the gateway itself
        assert fields(await alice.expect("8"), 11, 39) == ("off-tick", "8")
        assert fields(await copy.expect("8"), 11, 39) == ("off-tick", "8")

        await copy.send("D", new_order("dc2", 1, 5, "99"))
        assert fields(await copy.expect("j"), 372, 380) == ("D", "6")
        [_, drop] = sorted(fix_gateway.sessions(), key=lambda s: s.drop_copy)
        assert (drop.sender_comp_id, drop.participant, drop.drop_copy) == ("alice-dc", "alice", True)
    finally:
        await alice.close()
        await copy.close()


async def test_drop_copy_needs_the_member_permission(fix_gateway):
    client = await FixClient.connect(fix_gateway.port, "bob")
    try:
        refusal = await client.logon(PASSWORDS["bob"], extra=[(57, "DROPCOPY")])
        assert msg_type(refusal) == "5"
        assert "drop-copy" in (text(refusal, 58) or "")
    finally:
        await client.close()


async def test_connections_over_the_limit_are_closed(start_gateway: GatewayStarter):
    gateway = await start_gateway(fix_connections_max=1)
    first = await logged_on(gateway, "alice")
    second = await FixClient.connect(gateway.port, "bob")
    try:
        assert await second.closed_by_peer()
        assert gateway.connections_refused == 1
    finally:
        await first.close()
        await second.close()


async def test_gateway_close_logs_sessions_out(start_gateway: GatewayStarter):
    gateway = await start_gateway()
    client = await logged_on(gateway, "alice")
    try:
        closing = asyncio.create_task(gateway.close(timeout_seconds=5))
        logout = await client.expect("5")
        await client.send("5")
        assert text(logout, 58) == "the gateway is shutting down"
        async with asyncio.timeout(5):
            await closing
    finally:
        await client.close()


def fields(message: simplefix.FixMessage, *tags: int) -> tuple[str | None, ...]:
    return tuple(text(message, tag) for tag in tags)
