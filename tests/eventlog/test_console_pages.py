"""The console's web pages, in process (httpx over ASGI) against an event log opened on tmp_path: topics
with their partitions and configs, the tail (hostile and binary keys and values escaped or shown as
hex), signing in with a SASL user, CSRF, the produce form, consumer groups with their members and lag,
/api/stats and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from scalebox.core.clock import FakeClock
from scalebox.eventlog.app import EventLog, open_eventlog
from scalebox.eventlog.http.console import build_console_app, serve_console
from scalebox.eventlog.protocol.records import NewRecord
from scalebox.eventlog.service.group_records import JoinRequest
from scalebox.eventlog.service.topic_view import choose_partition
from scalebox.eventlog.service.users import remove_user, set_user
from scalebox.eventlog.settings import EventLogSettings
from tests.servers import free_port

BASE = "http://console.test"
USER, PASSWORD = "alice", "correct horse battery"
HOSTILE = "<script>alert(1)</script>&\"'"


@dataclass
class Running:
    app: FastAPI
    eventlog: EventLog
    clock: FakeClock

    async def append(self, topic: str, partition: int, *records: tuple[bytes | None, bytes | None]) -> None:
        broker = self.eventlog.broker
        target = broker.partition(topic, partition)
        now = broker.now_ms()
        broker.append_records(target, [NewRecord(key, value, now) for key, value in records])
        await broker.wait_durable(target, target.log.log_end_offset)


@contextlib.asynccontextmanager
async def running_console(data_dir: Path) -> AsyncIterator[Running]:
    settings = EventLogSettings(
        data_dir=data_dir, port=0, console_port=-1, flush_messages=10_000, group_initial_rebalance_delay_ms=0
    )
    clock = FakeClock()
    async with open_eventlog(settings, clock) as eventlog:
        yield Running(build_console_app(eventlog), eventlog, clock)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_console(tmp_path / "data") as running:
        set_user(running.eventlog.broker.users, USER, PASSWORD)
        yield running


class Browser:
    """A browser on the console: keeps cookies, asks for HTML, knows its CSRF token."""

    def __init__(self, console: Running) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(console.app), base_url=BASE, headers={"accept": "text/html"}
        )
        self.token = ""

    async def __aenter__(self) -> Browser:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        if not self.token:
            self.token = csrf_of((await self.client.get("/login")).text)
        return await self.client.post(path, data={"csrf_token": self.token, **fields})

    async def login(self, username: str, password: str, next_path: str = "") -> httpx.Response:
        self.token = csrf_of((await self.client.get("/login")).text)
        return await self.post("/login", username=username, password=password, next=next_path)


@pytest.fixture
async def alice(console: Running) -> AsyncIterator[Browser]:
    async with Browser(console) as browser:
        assert (await browser.login(USER, PASSWORD)).status_code == 303
        yield browser


@pytest.fixture
async def anonymous(console: Running) -> AsyncIterator[Browser]:
    async with Browser(console) as browser:
        yield browser


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def cells(page: str, table_id: str = "") -> list[list[str]]:
    """Each body row's cells, tags stripped and unescaped (of the table with `table_id`, or all)."""
    if table_id:
        match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
        assert match, f"no table {table_id!r}"
        page = match.group(0)
    rows = []
    for body in re.findall(r"<tbody[^>]*>(.*?)</tbody>", page, re.S):
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
            found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            rows.append([html.unescape(re.sub(r"<[^>]+>", " ", cell)).split() for cell in found])
    return [[" ".join(words) for words in row] for row in rows]


def encode_assignment(partitions: dict[str, list[int]], version: int = 0) -> bytes:
    """ConsumerProtocolAssignment: version, [topic, [partition]], user data (null)."""
    out = struct.pack(">hi", version, len(partitions))
    for topic, numbers in partitions.items():
        out += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(numbers))
        out += b"".join(struct.pack(">i", number) for number in numbers)
    return out + struct.pack(">i", -1)


def encode_subscription(topics: list[str]) -> bytes:
    out = struct.pack(">hi", 0, len(topics))
    out += b"".join(struct.pack(">h", len(topic)) + topic.encode() for topic in topics)
    return out + struct.pack(">i", -1)


# -- reading needs no sign-in ------------------------------------------------------------------------


async def test_topics_list_shows_partitions_offsets_sizes_and_policies(
    console: Running, anonymous: Browser
) -> None:
    broker = console.eventlog.broker
    broker.create_topic("orders", 3, {"retention.ms": "3600000"})
    broker.create_topic("users", 1, {"cleanup.policy": "compact"})
    await console.append("orders", 1, (b"k1", b"v1"), (b"k2", b"v2"))

    page = await anonymous.get("/")

    assert page.status_code == 200
    rows = {row[0].split()[0]: row for row in cells(page.text)}
    assert rows["orders"][1:5] == ["3", "0", "2", "2"]  # partitions, start and end offsets, messages
    assert rows["orders"][6] == "1 hour"
    assert rows["orders"][7] == "delete"
    assert rows["users"][7] == "compact"
    assert rows["__consumer_offsets"][0] == "__consumer_offsets internal"
    assert list(rows) == ["orders", "users", "__consumer_offsets"]  # internal topics last
    assert "needs no sign-in" in page.text  # the footer says who may do what


async def test_a_topic_page_shows_each_partition_and_its_configs(
    console: Running, anonymous: Browser
) -> None:
    console.eventlog.broker.create_topic("orders", 2, {"retention.ms": "60000"})
    await console.append("orders", 0, (None, b"a"), (None, b"b"), (None, b"c"))

    page = (await anonymous.get("/topics/orders")).text

    partitions = cells(page.split('id="partitions-title"')[1].split("</table>")[0] + "</table>")
    assert partitions[0][:4] == ["0", "0", "3", "3"]
    assert partitions[1][:4] == ["1", "0", "0", "0"]
    assert partitions[0][5] == "1"  # one segment
    assert re.search(
        r"<code>retention.ms</code></td><td><code>60000</code></td><td><span[^>]*>set on the topic", page
    )
    assert re.search(
        r'<code>cleanup.policy</code></td><td><code>delete</code></td><td><span class="muted">broker default',
        page,
    )


async def test_unknown_topics_and_groups_are_404(anonymous: Browser) -> None:
    assert (await anonymous.get("/topics/nope")).status_code == 404
    assert (await anonymous.get("/topics/nope/records")).status_code == 404
    assert (await anonymous.get("/group?id=nope")).status_code == 404


async def test_the_tail_escapes_hostile_keys_and_values_and_shows_binary_as_hex(
    console: Running, anonymous: Browser
) -> None:
    console.eventlog.broker.create_topic("hostile", 1, {})
    binary = bytes([0, 255, 1, 128])
    await console.append(
        "hostile", 0, (HOSTILE.encode(), HOSTILE.encode()), (binary, None), (b"k", b"\x1b[2J")
    )

    page = (await anonymous.get("/topics/hostile")).text
    records = (await anonymous.get("/topics/hostile/records")).json()["records"]

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#34;&#39;" in page
    assert [r["offset"] for r in records] == [2, 1, 0]  # newest first
    assert records[2]["key"] == {
        "kind": "text",
        "text": HOSTILE,
        "size_bytes": len(HOSTILE),
        "truncated": False,
    }
    assert records[1]["key"] == {"kind": "hex", "text": "00ff0180", "size_bytes": 4, "truncated": False}
    assert records[1]["value"]["kind"] == "null"
    assert records[0]["value"] == {"kind": "hex", "text": "1b5b324a", "size_bytes": 4, "truncated": False}
    assert 'class="bytes hex">00ff0180' in page


async def test_the_tail_is_bounded_and_can_follow_one_partition(console: Running, anonymous: Browser) -> None:
    console.eventlog.broker.create_topic("busy", 2, {})
    await console.append("busy", 0, *[(None, f"p0-{n}".encode()) for n in range(30)])
    console.clock.advance(seconds=1)
    await console.append("busy", 1, *[(None, f"p1-{n}".encode()) for n in range(5)])

    page = (await anonymous.get("/topics/busy")).text
    newest = (await anonymous.get("/topics/busy/records?limit=3")).json()["records"]
    one = (await anonymous.get("/topics/busy/records?partition=0&limit=2")).json()["records"]
    too_many = await anonymous.get("/topics/busy/records?limit=1000")

    assert page.count('<td class="bytes text">p') == 20  # the page's tail holds 20 records
    assert [r["value"]["text"] for r in newest] == ["p1-4", "p1-3", "p1-2"]
    assert [(r["partition"], r["offset"]) for r in one] == [(0, 29), (0, 28)]
    assert too_many.status_code == 422


# -- signing in --------------------------------------------------------------------------------------


async def test_sign_in_with_the_right_password_sets_a_signed_httponly_session(console: Running) -> None:
    async with Browser(console) as browser:
        response = await browser.login(USER, PASSWORD, next_path="/produce?topic=orders")

        assert response.status_code == 303
        assert response.headers["location"] == "/produce?topic=orders"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("sbx_eventlog_session=")
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert PASSWORD not in cookie
        produce = await browser.get("/produce")
        assert produce.status_code == 200
        assert ">alice</a>" in produce.text  # the signed-in name in the header


async def test_sign_in_refuses_a_wrong_password_an_unknown_user_and_an_offsite_next(console: Running) -> None:
    async with Browser(console) as browser:
        wrong = await browser.login(USER, PASSWORD + "x")
        unknown = await browser.login("mallory", PASSWORD)
        offsite = await browser.login(USER, PASSWORD, next_path="//evil.example/")

    assert wrong.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert "sbx_eventlog_session" not in wrong.headers.get("set-cookie", "")
    assert unknown.status_code == 401
    assert offsite.headers["location"] == "/"


async def test_more_than_ten_sign_ins_a_minute_from_one_address_are_refused(console: Running) -> None:
    async with Browser(console) as browser:
        for _ in range(10):
            assert (await browser.login(USER, "wrong")).status_code == 401
        refused = await browser.login(USER, PASSWORD)
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        console.clock.advance(seconds=61)
        assert (await browser.login(USER, PASSWORD)).status_code == 303


async def test_a_removed_user_is_signed_out_and_sessions_expire(console: Running, alice: Browser) -> None:
    assert (await alice.get("/produce")).status_code == 200
    console.clock.advance(seconds=console.eventlog.settings.console_session_seconds + 1)
    assert (await alice.get("/produce")).status_code == 303
    assert (await alice.login(USER, PASSWORD)).status_code == 303
    remove_user(console.eventlog.broker.users, USER)
    assert (await alice.get("/produce")).headers["location"] == "/login?next=%2Fproduce"


async def test_sign_out_ends_the_session(alice: Browser) -> None:
    response = await alice.post("/logout")
    assert response.headers["location"] == "/login?note=signed-out"
    assert "Signed out." in (await alice.get(response.headers["location"])).text
    assert (await alice.get("/produce")).status_code == 303


# -- producing ---------------------------------------------------------------------------------------


async def test_producing_needs_a_signed_in_user(console: Running, anonymous: Browser) -> None:
    console.eventlog.broker.create_topic("orders", 1, {})

    form = await anonymous.get("/produce")
    posted = await anonymous.post("/produce", topic="orders", key="", value="sneaky", partition="")
    topic_page = (await anonymous.get("/topics/orders")).text

    assert form.status_code == 303
    assert form.headers["location"] == "/login?next=%2Fproduce"
    assert posted.status_code == 401
    assert console.eventlog.broker.partition("orders", 0).log.log_end_offset == 0
    assert "Sign in to produce a test message" in topic_page


async def test_forms_without_this_browsers_csrf_token_are_refused(console: Running, alice: Browser) -> None:
    console.eventlog.broker.create_topic("orders", 1, {})
    async with Browser(console) as other:
        foreign_token = csrf_of((await other.get("/login")).text)

    missing = await alice.client.post("/produce", data={"topic": "orders", "value": "x"})
    forged = await alice.client.post(
        "/produce", data={"topic": "orders", "value": "x", "csrf_token": foreign_token}
    )
    login_forged = await alice.client.post(
        "/login", data={"username": USER, "password": PASSWORD, "csrf_token": foreign_token}
    )

    assert missing.status_code == 403
    assert forged.status_code == 403
    assert login_forged.status_code == 403
    assert console.eventlog.broker.partition("orders", 0).log.log_end_offset == 0


async def test_a_produced_message_lands_where_its_key_hashes_and_shows_in_the_tail(
    console: Running, alice: Browser
) -> None:
    console.eventlog.broker.create_topic("orders", 4, {})
    expected = choose_partition(b"customer-7", [0, 0, 0, 0])

    response = await alice.post("/produce", topic="orders", key="customer-7", value=HOSTILE, partition="")
    page = await alice.get(response.headers["location"])

    assert response.status_code == 303
    assert (
        response.headers["location"] == f"/topics/orders?produced_partition={expected}&produced_offset=0#tail"
    )
    assert f"Message produced to partition {expected} at offset 0." in page.text
    assert console.eventlog.broker.partition("orders", expected).log.log_end_offset == 1
    [record] = (await alice.get("/topics/orders/records")).json()["records"]
    assert (record["key"]["text"], record["value"]["text"]) == ("customer-7", HOSTILE)


async def test_the_produce_form_reports_what_the_broker_refuses(console: Running, alice: Browser) -> None:
    broker = console.eventlog.broker
    broker.create_topic("two", 2, {})
    broker.create_topic("compacted", 1, {"cleanup.policy": "compact"})

    bad_partition = await alice.post("/produce", topic="two", value="v", partition="7")
    not_a_number = await alice.post("/produce", topic="two", value="v", partition="-1")
    no_key = await alice.post("/produce", topic="compacted", value="v")
    internal = await alice.post("/produce", topic="__consumer_offsets", value="v")
    unknown = await alice.post("/produce", topic="nope", value="v", key=HOSTILE)

    assert bad_partition.status_code == 422
    assert "two has partitions 0 to 1, not 7" in bad_partition.text
    assert not_a_number.status_code == 422
    assert no_key.status_code == 422
    assert internal.status_code == 403
    assert unknown.status_code == 404
    assert "<script>alert" not in unknown.text
    assert 'value="&lt;script&gt;' in unknown.text  # the typed key is kept, escaped
    assert broker.partition("two", 0).log.log_end_offset == broker.partition("two", 1).log.log_end_offset == 0


# -- consumer groups ---------------------------------------------------------------------------------


async def _stable_group(console: Running, group_id: str, assignment: dict[str, list[int]]) -> None:
    """One consumer member, joined and synced with `assignment`, the way a client's leader does it."""
    groups = console.eventlog.groups
    join = JoinRequest(
        group_id=group_id,
        member_id="",
        group_instance_id=None,
        protocol_type="consumer",
        protocols=(("range", encode_subscription(sorted(assignment))),),
        session_timeout_ms=30_000,
        rebalance_timeout_ms=30_000,
        client_id="billing-worker",
        client_host="/10.0.0.7",
        require_known_member_id=False,
    )
    joining = asyncio.ensure_future(groups.join(join))
    for _ in range(100):
        if joining.done():
            break
        groups.tick()
        await asyncio.sleep(0)
    joined = await joining
    member = joined.member_id
    await groups.sync(
        group_id,
        member,
        joined.generation_id,
        None,
        "consumer",
        "range",
        {member: encode_assignment(assignment)},
    )


async def test_a_group_page_shows_members_their_partitions_and_lag(
    console: Running, anonymous: Browser
) -> None:
    broker, groups = console.eventlog.broker, console.eventlog.groups
    broker.create_topic("orders", 3, {})
    await console.append("orders", 0, *[(None, b"x")] * 10)
    await console.append("orders", 1, *[(None, b"y")] * 4)
    await console.append("orders", 2, *[(None, b"z")] * 7)
    await _stable_group(console, "billing", {"orders": [0, 1, 2]})
    [member] = groups.describe("billing").members
    generation = groups.describe("billing").generation_id
    await groups.commit_offsets(
        "billing",
        member.member_id,
        generation,
        None,
        {("orders", 0): (6, -1, ""), ("orders", 1): (4, -1, "")},
    )

    page = (await anonymous.get("/group?id=billing")).text
    listing = (await anonymous.get("/groups")).text

    assert "Stable" in page
    members = cells(page.split('id="members-title"')[1].split("</table>")[0] + "</table>")
    assert members[0][0] == "billing-worker"
    assert members[0][1] == "/10.0.0.7"
    assert members[0][3] == "orders : 0, 1, 2"
    lag = cells(page, "lag-table")
    assert [row[:5] for row in lag] == [
        ["orders", "0", "6", "10", "4"],
        ["orders", "1", "4", "4", "0"],
        ["orders", "2", "-", "7", "-"],  # nothing committed yet: no lag to tell
    ]
    assert lag[0][5] == "billing-worker (/10.0.0.7)"
    bars = re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', page)
    assert len(bars) == 3
    assert int(bars[0]) > 0
    assert int(bars[1]) == int(bars[2]) == 0
    assert "Total lag" in page
    assert [row[:6] for row in cells(listing)] == [["billing", "Stable", "consumer (range)", "1", "3", "4"]]


async def test_a_group_that_only_commits_offsets_and_hostile_group_ids(
    console: Running, anonymous: Browser
) -> None:
    broker, groups = console.eventlog.broker, console.eventlog.groups
    broker.create_topic("orders", 1, {})
    await console.append("orders", 0, *[(None, b"x")] * 5)
    group_id = "../<b>odd</b>/?#group"
    await groups.commit_offsets(group_id, "", -1, None, {("orders", 0): (2, -1, "")})

    listing = (await anonymous.get("/groups")).text
    link = re.search(r'<a href="(/group\?id=[^"]+)">', listing)
    assert link
    page = await anonymous.get(html.unescape(link.group(1)))

    assert "<b>odd</b>" not in listing
    assert page.status_code == 200
    assert "<b>odd</b>" not in page.text
    assert "&lt;b&gt;odd&lt;/b&gt;" in page.text
    assert [row[:5] for row in cells(page.text, "lag-table")] == [["orders", "0", "2", "5", "3"]]
    assert "nobody is consuming with this group" in page.text


# -- machine-readable --------------------------------------------------------------------------------


async def test_stats_health_and_metrics(console: Running, anonymous: Browser) -> None:
    console.eventlog.broker.create_topic("orders", 3, {})
    await console.append("orders", 0, (None, b"x" * 100))
    await console.eventlog.groups.commit_offsets("g", "", -1, None, {("orders", 0): (0, -1, "")})

    stats = (await anonymous.client.get("/api/stats", headers={"accept": "application/json"})).json()
    health = await anonymous.client.get("/healthz")
    metrics = (await anonymous.client.get("/metrics")).text

    figures = {figure["key"]: figure["value"] for figure in stats["figures"]}
    assert stats["system"] == "eventlog"
    assert figures["topics"] == 1  # internal topics are not the user's
    assert figures["partitions"] == 3
    assert figures["bytes"] > 100
    assert figures["groups"] == 1
    assert figures["connections"] == 0
    assert figures["kafka_requests"] == 0
    assert all(set(f) == {"key", "label", "value", "unit"} for f in stats["figures"])
    assert health.status_code == 200
    assert json.loads(health.text)["checks"] == {"storage": "ok"}
    assert 'scalebox_eventlog_partitions{topic="orders"} 3.0' in metrics
    assert "scalebox_eventlog_topics 2.0" in metrics
    assert 'scalebox_eventlog_group_lag{group="g"} 1.0' in metrics
    assert "scalebox_eventlog_connections 0.0" in metrics
    assert "scalebox_eventlog_kafka_requests_total 0.0" in metrics


# -- serving -----------------------------------------------------------------------------------------


async def test_serve_console_answers_until_stopped_and_gives_up_on_a_taken_port(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = free_port()
    try:
        for console_port in (port, taken.getsockname()[1]):
            settings = EventLogSettings(
                data_dir=tmp_path / str(console_port), port=0, console_port=console_port
            )
            async with open_eventlog(settings) as eventlog:
                stop = asyncio.Event()
                serving = asyncio.create_task(serve_console(eventlog, stop))
                if console_port == port:
                    await asyncio.sleep(0)  # one turn of the loop: the task binds and listens first thing
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                        assert (await client.get("/healthz")).status_code == 200
                    stop.set()
                await asyncio.wait_for(serving, 10)  # a taken port: returns at once, stop never set
    finally:
        taken.close()
