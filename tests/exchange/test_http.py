"""The exchange's web app in process (httpx over ASGI) on a real venue with a real journal and
clearing on SQLite: signing in, CSRF, the JSON API (place, cancel, replace, fills, positions,
obligations), ticks and decimals, the operations view and who may use it, halts refusing later
orders, escaping, the post-trade page, /healthz and /metrics; and my executions over a real
WebSocket (uvicorn on a loopback port)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import websockets
from markupsafe import escape
from websockets.exceptions import InvalidStatus

from scalebox.exchange.posttrade import settlement_date
from scalebox.exchange.service.activity import ActivityMeter
from scalebox.exchange.service.execution_feed import ExecutionFeed, FeedDroppedError
from tests.exchange.web_harness import PASSWORD, WebExchange, open_web_exchange, serving

BASE = "http://exchange.test"
HOSTILE = "<script>alert('x')</script>&\""
TIMEOUT_SECONDS = 10


def basic(participant: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{participant}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


class Browser:
    """A browser on the exchange: keeps cookies, asks for HTML, knows its CSRF token."""

    def __init__(self, exchange: WebExchange) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(exchange.app), base_url=BASE, headers={"accept": "text/html"}
        )
        self.token = ""

    async def login(self, participant: str, password: str = PASSWORD) -> httpx.Response:
        self.token = csrf_of((await self.client.get("/login")).text)
        return await self.post("/login", participant=participant, password=password)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        if not self.token:
            self.token = csrf_of((await self.client.get("/login")).text)
        return await self.client.post(path, data={"csrf_token": self.token, **fields})

    async def api(self, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"accept": "application/json", "x-csrf-token": self.token}
        return await self.client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[WebExchange]:
    async with open_web_exchange(tmp_path) as running:
        yield running


@pytest.fixture
async def api(exchange: WebExchange) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(exchange.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"accept": "application/json"}
    ) as c:
        yield c


async def signed_in(exchange: WebExchange, participant: str) -> Browser:
    browser = Browser(exchange)
    assert (await browser.login(participant)).status_code == 303
    return browser


def order(**overrides: object) -> dict[str, object]:
    return {
        "symbol": "ACME",
        "side": "buy",
        "type": "limit",
        "tif": "gtc",
        "quantity": 10,
        "price": "100.00",
    } | overrides


async def stored(exchange: WebExchange) -> None:
    """Until clearing has stored everything sequenced so far."""
    await asyncio.wait_for(exchange.clearing.wait_stored(exchange.venue.last_sequence), TIMEOUT_SECONDS)


# -- signing in ------------------------------------------------------------------------------------


async def test_sign_in_with_participant_and_password_opens_the_trading_screen(exchange):
    browser = await signed_in(exchange, "bob")

    page = await browser.client.get("/")

    assert page.status_code == 200
    assert "New order" in page.text
    assert "bob" in page.text
    assert 'href="/operations"' not in page.text  # bob is no operator


async def test_sign_in_with_a_wrong_password_is_refused(exchange):
    browser = Browser(exchange)

    response = await browser.login("bob", "not the password")

    assert response.status_code == 401
    assert "Wrong participant id or password." in response.text
    assert "sbx_exchange_session" not in response.headers.get("set-cookie", "")


async def test_pages_send_a_signed_out_browser_to_sign_in(exchange):
    browser = Browser(exchange)

    response = await browser.client.get("/post-trade?date=2025-03-07")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fpost-trade%3Fdate%3D2025-03-07"


async def test_sign_out_ends_the_session(exchange):
    browser = await signed_in(exchange, "bob")

    response = await browser.post("/logout")

    assert response.headers["location"] == "/login?note=signed-out"
    assert (await browser.client.get("/")).status_code == 303


# -- CSRF --------------------------------------------------------------------------------------------


async def test_forms_without_the_csrf_token_are_refused(exchange):
    browser = await signed_in(exchange, "bob")

    response = await browser.client.post("/orders", data={"symbol": "ACME", "side": "buy", "quantity": "1"})

    assert response.status_code == 403
    assert not exchange.venue.engine.orders


async def test_api_writes_with_a_session_need_the_csrf_header(exchange):
    browser = await signed_in(exchange, "bob")

    forged = {"x-csrf-token": "forged", "accept": "application/json"}
    refused = await browser.client.post("/api/orders", json=order(), headers=forged)
    accepted = await browser.api("POST", "/api/orders", order())

    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert accepted.status_code == 201


async def test_api_needs_authentication_for_private_data_and_every_write(api):
    assert (await api.post("/api/orders", json=order())).status_code == 401
    assert (await api.get("/api/orders")).status_code == 401
    assert (await api.get("/api/positions")).status_code == 401
    assert (await api.post("/api/orders", json=order(), headers=basic("bob", "wrong"))).status_code == 401
    assert (await api.get("/api/book/ACME")).status_code == 200  # market data is public


# -- orders through the API ------------------------------------------------------------------------------


async def test_place_replace_and_cancel_through_the_api(api):
    placed = await api.post("/api/orders", json=order(cl_ord_id="mine-1"), headers=basic("bob"))
    assert placed.status_code == 201
    body = placed.json()
    assert body["order"]["cl_ord_id"] == "mine-1"
    assert (body["order"]["price"], body["order"]["leaves"], body["order"]["status"]) == ("100.00", 10, "new")
    assert [e["exec_type"] for e in body["executions"]] == ["new"]
    order_id = body["order"]["order_id"]

    replaced = await api.patch(
        f"/api/orders/{order_id}", json={"quantity": 20, "price": "99.50"}, headers=basic("bob")
    )
    assert replaced.status_code == 200
    assert (replaced.json()["order"]["price"], replaced.json()["order"]["quantity"]) == ("99.50", 20)
    listed = (await api.get("/api/orders", headers=basic("bob"))).json()["orders"]
    assert [(o["order_id"], o["price"], o["leaves"]) for o in listed] == [(order_id, "99.50", 20)]

    cancelled = await api.delete(f"/api/orders/{order_id}", headers=basic("bob"))
    assert cancelled.status_code == 200
    assert cancelled.json()["order"] is None
    assert [e["exec_type"] for e in cancelled.json()["executions"]] == ["canceled"]
    assert (await api.get("/api/orders", headers=basic("bob"))).json()["orders"] == []
    assert (await api.delete(f"/api/orders/{order_id}", headers=basic("bob"))).status_code == 404


async def test_nobody_cancels_another_participants_order(api):
    placed = (await api.post("/api/orders", json=order(), headers=basic("bob"))).json()

    response = await api.delete(f"/api/orders/{placed['order']['order_id']}", headers=basic("carol"))

    assert response.status_code == 404


async def test_a_price_off_the_tick_is_a_clear_422(api):
    response = await api.post("/api/orders", json=order(price="100.005"), headers=basic("bob"))

    assert response.status_code == 422
    assert response.json()["field"] == "price"
    assert response.json()["detail"] == "price 100.005 is not a multiple of the tick size 0.01"


async def test_an_unknown_symbol_is_a_404(api):
    response = await api.post("/api/orders", json=order(symbol="NOPE"), headers=basic("bob"))

    assert response.status_code == 404


async def test_an_order_the_engine_rejects_is_a_409_with_the_reason(api):
    # 150.00 is outside the +-10% collar around ACME's reference price of 100.00.
    response = await api.post("/api/orders", json=order(price="150.00"), headers=basic("bob"))

    assert response.status_code == 409
    assert response.json()["code"] == "order_rejected"
    assert "collar" in response.json()["detail"]


async def test_crossing_orders_trade_into_fills_positions_tape_and_netting(exchange, api):
    await api.post("/api/orders", json=order(quantity=10, price="100.00"), headers=basic("bob"))
    sold = await api.post(
        "/api/orders", json=order(side="sell", quantity=4, price="99.00"), headers=basic("carol")
    )
    assert [e["exec_type"] for e in sold.json()["executions"]] == ["new", "trade"]
    assert sold.json()["executions"][1]["last_price"] == "100.00"
    await stored(exchange)

    fills = (await api.get("/api/fills", headers=basic("bob"))).json()["fills"]
    assert [(f["side"], f["last_quantity"], f["last_price"], f["leaves"]) for f in fills] == [
        ("buy", 4, "100.00", 6)
    ]
    positions = (await api.get("/api/positions", headers=basic("carol"))).json()["positions"]
    assert positions == [
        {"participant": "carol", "symbol": "ACME", "bought": 0, "sold": 4, "net_quantity": -4,
         "paid": "0.00", "received": "400.00", "net_cash": "400.00"},
    ]  # fmt: skip
    tape = (await api.get("/api/trades?symbol=ACME")).json()["trades"]
    assert [(t["price"], t["quantity"], t["aggressor"]) for t in tape] == [("100.00", 4, "sell")]
    assert "bob" not in json.dumps(tape)  # the tape is anonymous
    book = (await api.get("/api/book/ACME")).json()
    assert book["bids"] == [{"price": "100.00", "quantity": 6, "count": 1}]

    today = datetime.now(UTC).date()
    obligations = (await api.get(f"/api/obligations?date={today}", headers=basic("bob"))).json()[
        "obligations"
    ]
    assert obligations == [{"participant": "bob", "symbol": "ACME", "trade_date": today.isoformat(),
                            "settlement_date": settlement_date(today).isoformat(), "deliver_quantity": 0,
                            "receive_quantity": 4, "net_quantity": 4, "net_cash": "-400.00"}]  # fmt: skip
    everyone = await api.get(f"/api/obligations?date={today}&everyone=true", headers=basic("bob"))
    assert everyone.status_code == 403
    all_of_them = await api.get(f"/api/obligations?date={today}&everyone=true", headers=basic("alice"))
    assert [o["participant"] for o in all_of_them.json()["obligations"]] == ["bob", "carol"]


async def test_order_entry_form_works_without_javascript(exchange):
    browser = await signed_in(exchange, "bob")

    placed = await browser.post("/orders", symbol="ACME", side="sell", type="limit", tif="day",
                                quantity="7", price="101.25", stop_price="", display="")  # fmt: skip
    page = await browser.client.get(placed.headers["location"])

    assert placed.status_code == 303
    assert "Order placed." in page.text
    assert re.search(r"<td class=\"num\">101\.25</td>\s*<td class=\"num\">7</td>", page.text)
    (live,) = exchange.venue.engine.orders.values()
    assert (live.participant, live.price, live.quantity) == ("bob", 10125, 7)

    cancelled = await browser.post(f"/orders/{live.order_id}/cancel", symbol="ACME")
    assert cancelled.status_code == 303
    assert not exchange.venue.engine.orders


async def test_order_entry_form_shows_a_refusal_on_the_page(exchange):
    browser = await signed_in(exchange, "bob")

    response = await browser.post("/orders", symbol="ACME", side="buy", type="limit", tif="day",
                                  quantity="5", price="1.001")  # fmt: skip

    assert response.status_code == 422
    assert "price 1.001 is not a multiple of the tick size 0.01" in response.text
    assert 'value="1.001"' in response.text  # what was typed stays in the form


# -- operations ------------------------------------------------------------------------------------------


async def test_operations_are_forbidden_to_members_who_are_not_operators(exchange, api):
    browser = await signed_in(exchange, "bob")

    assert (await browser.client.get("/operations")).status_code == 403
    assert (await browser.post("/operations/halt", symbol="ACME", reason="no")).status_code == 403
    assert (await browser.post("/operations/phase", symbol="ACME", phase="closed")).status_code == 403
    halt = await api.post("/api/operations/halt", json={"symbol": "ACME"}, headers=basic("bob"))
    assert halt.status_code == 403
    assert (await api.get("/api/operations/status", headers=basic("bob"))).status_code == 403
    assert not exchange.venue.engine.instruments["ACME"].halted


async def test_a_halt_from_the_operations_view_refuses_later_orders(exchange, api):
    operator = await signed_in(exchange, "alice")

    halted = await operator.post("/operations/halt", symbol="ACME", reason="news pending")
    refused = await api.post("/api/orders", json=order(), headers=basic("bob"))
    elsewhere = await api.post(
        "/api/orders", json=order(symbol="GLOBEX", price="250.00"), headers=basic("bob")
    )

    assert halted.status_code == 303
    assert "Trading halted." in (await operator.client.get(halted.headers["location"])).text
    assert refused.status_code == 409
    assert refused.json()["detail"] == "order rejected: trading is halted"
    assert elsewhere.status_code == 201

    await operator.post("/operations/resume", symbol="ACME")
    assert (await api.post("/api/orders", json=order(), headers=basic("bob"))).status_code == 201


async def test_operators_move_phases_and_halt_the_market_through_the_api(exchange, api):
    closed = await api.post(
        "/api/operations/phase", json={"symbol": "ACME", "phase": "closed"}, headers=basic("alice")
    )
    refused = await api.post("/api/orders", json=order(), headers=basic("bob"))
    await api.post(
        "/api/operations/phase", json={"symbol": "ACME", "phase": "continuous"}, headers=basic("alice")
    )
    market = await api.post("/api/operations/halt", json={"symbol": ""}, headers=basic("alice"))
    halted = await api.post("/api/orders", json=order(symbol="GLOBEX", price="250.00"), headers=basic("bob"))

    assert closed.json() == {"changed": [{"symbol": "ACME", "phase": "closed", "halted": False}]}
    assert refused.json()["detail"] == "order rejected: the market is closed"
    assert market.status_code == 200
    assert halted.status_code == 409
    status = (await api.get("/api/operations/status", headers=basic("alice"))).json()
    assert status["market_halted"] is True
    assert status["sequence"] == exchange.venue.last_sequence


async def test_operations_view_shows_the_venue_s_vital_signs(tmp_path):
    sessions = [{"session": "FIX.4.4:BOB->SCALEBOX", "state": "active", "sent": 12}]
    standby = {"sequence": 40, "lag": 2, "updated_at": "2025-03-07T15:00:00Z"}
    journal = {"last_sequence": 42, "segments": 1, "last_snapshot": 0}
    async with open_web_exchange(tmp_path, fix_sessions=lambda: sessions, standby_status=lambda: standby,
                                 journal_status=lambda: journal) as exchange:  # fmt: skip
        operator = await signed_in(exchange, "alice")
        page = (await operator.client.get("/operations")).text

    assert "FIX.4.4:BOB-&gt;SCALEBOX" in page
    assert "at sequence 40, 2 behind" in page
    assert "last sequence 42 · segments 1 · last snapshot 0" in page
    assert re.search(
        r'<th scope="row">ACME</th>\s*<td><span class="badge" data-field="phase">continuous', page
    )


# -- escaping ----------------------------------------------------------------------------------------------


async def test_hostile_strings_are_escaped_on_every_page(exchange, api):
    await api.post("/api/orders", json=order(cl_ord_id=HOSTILE), headers=basic("alice"))
    await api.post("/api/orders", json=order(side="sell", quantity=1, price="100.00"), headers=basic("bob"))
    await api.post(
        "/api/operations/halt", json={"symbol": "GLOBEX", "reason": HOSTILE}, headers=basic("alice")
    )
    await stored(exchange)
    operator = await signed_in(exchange, "alice")

    for path in ("/", "/operations", "/post-trade"):
        page = (await operator.client.get(path)).text
        assert "<script>alert" not in page, path
    assert str(escape(HOSTILE)) in (await operator.client.get("/")).text
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in (await operator.client.get("/operations")).text
    )


# -- post-trade, health, metrics ---------------------------------------------------------------------------


async def test_post_trade_page_shows_positions_and_t_plus_one_obligations(exchange, api):
    await api.post("/api/orders", json=order(quantity=3, price="100.00"), headers=basic("bob"))
    await api.post("/api/orders", json=order(side="sell", quantity=3, price="100.00"), headers=basic("carol"))
    await stored(exchange)
    browser = await signed_in(exchange, "bob")

    page = (await browser.client.get("/post-trade")).text

    today = datetime.now(UTC).date()
    assert f"Settlement of {today.isoformat()}" in page
    assert f"<strong>{settlement_date(today).isoformat()}</strong>" in page
    assert (
        '<th scope="row">ACME</th><td class="num">3</td><td class="num">0</td><td class="num">3</td>' in page
    )
    assert "-300.00" in page
    assert page.count("<svg") == 2
    assert "carol" not in page  # a member sees only its own obligations


async def test_healthz_and_metrics(exchange, api):
    await api.post("/api/orders", json=order(), headers=basic("bob"))

    health = await api.get("/healthz")
    metrics = (await api.get("/metrics")).text

    assert health.json() == {"status": "ok", "system": "exchange", "checks": {"clearing": "ok"}}
    assert "scalebox_exchange_orders_total 1.0" in metrics
    assert f"scalebox_exchange_sequence {float(exchange.venue.last_sequence)}" in metrics


# -- my executions over a WebSocket -----------------------------------------------------------------------


async def test_executions_socket_streams_my_reports_and_nobody_else_s(exchange, api):
    async with serving(exchange.app) as url:
        socket_url = url.replace("http://", "ws://") + "/ws/executions"
        async with websockets.connect(socket_url, additional_headers=basic("bob")) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_SECONDS)) == {
                "kind": "ready",
                "participant": "bob",
            }
            await api.post("/api/orders", json=order(quantity=5, cl_ord_id="b1"), headers=basic("bob"))
            await api.post(
                "/api/orders", json=order(side="sell", quantity=2, cl_ord_id="c1"), headers=basic("carol")
            )
            await api.post(
                "/api/orders", json=order(quantity=1, price="99.00", cl_ord_id="b2"), headers=basic("bob")
            )
            reports = [json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_SECONDS)) for _ in range(3)]

    # carol's own reports (her new order, her fill) never reach bob's socket: b2 comes right after.
    assert [(r["exec_type"], r["cl_ord_id"], r["leaves"], r["cum"]) for r in reports] == [
        ("new", "b1", 5, 0),
        ("trade", "b1", 3, 2),
        ("new", "b2", 1, 0),
    ]
    assert reports[1]["last_price"] == "100.00"


async def test_executions_socket_refuses_strangers_and_other_sites(exchange):
    async with serving(exchange.app) as url:
        socket_url = url.replace("http://", "ws://") + "/ws/executions"
        with pytest.raises(InvalidStatus):
            async with websockets.connect(socket_url):
                pass
        with pytest.raises(InvalidStatus):
            async with websockets.connect(
                socket_url, additional_headers=basic("bob"), origin="http://evil.test"
            ):
                pass


async def test_a_slow_executions_subscriber_is_dropped_and_the_venue_never_waits(exchange, api):
    feed = ExecutionFeed(queue_max=2)
    exchange.venue.add_listener(feed.on_applied)
    subscription = feed.subscribe("bob")

    for index in range(3):
        response = await api.post("/api/orders", json=order(cl_ord_id=f"s{index}"), headers=basic("bob"))
        assert response.status_code == 201

    assert subscription.dropped_reason == "slow consumer: more than 2 reports behind"
    assert feed.subscribers == 0
    with pytest.raises(FeedDroppedError):
        await subscription.next()


async def test_activity_counts_orders_and_trades_per_second(exchange, api):
    meter = ActivityMeter(window_seconds=10)
    stamps: list[int] = []
    exchange.venue.add_listener(meter.on_applied)
    exchange.venue.add_listener(lambda applied: stamps.append(applied.timestamp_ns))
    await api.post("/api/orders", json=order(), headers=basic("bob"))
    await api.post("/api/orders", json=order(side="sell"), headers=basic("carol"))

    later_ns = stamps[-1] + 1_000_000_000  # the next second: both orders are in the window
    orders_per_second, trades_per_second = meter.rates(later_ns)

    assert (meter.orders_total, meter.trades_total) == (2, 1)
    assert (orders_per_second, trades_per_second) == (0.2, 0.1)
    assert meter.rates(later_ns + 60 * 1_000_000_000) == (0.0, 0.0)


async def test_stats_lists_the_figures_the_front_door_shows(api) -> None:
    response = await api.get("/api/stats")
    assert response.status_code == 200
    body = response.json()
    assert body["system"] == "exchange"
    assert {figure["key"] for figure in body["figures"]} >= {"sequence", "orders_per_second", "resting"}
