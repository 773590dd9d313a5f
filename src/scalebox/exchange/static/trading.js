// The trading screen, live: the depth ladder, the trade tape and the phase over /ws/market-data,
// my open orders and fills over /ws/executions, and the forms sent through the JSON API without a
// reload. Everything from the server goes into the page as text (textContent), never as markup;
// without JavaScript the page works as served (the forms post and it reloads).
(function () {
  "use strict";
  const root = document.getElementById("trading");
  if (!root || !root.dataset.symbol) return;
  const symbol = root.dataset.symbol;
  const tick = parseTick(root.dataset.tickSize || "0.01");
  const orderForm = document.getElementById("order-form");
  const csrf = orderForm.querySelector("input[name=csrf_token]").value;
  const LADDER_LEVELS = 10;
  const TAPE_ROWS = 30;
  const FILL_ROWS = 30;
  const el = (id) => document.getElementById(id);
  const orderSeen = new Map();  // order id -> the newest sequence shown, so late answers never undo newer ones
  const live = { market: root.dataset.marketData !== "on", executions: false };

  // -- numbers: prices arrive in ticks on market data, as decimal strings from the API -----------

  function parseTick(text) {
    const [whole, fraction = ""] = text.split(".");
    return { units: Number(whole + fraction), places: fraction.length };
  }

  function price(ticks) {
    if (!ticks) return "";
    let digits = String(Math.abs(ticks * tick.units));
    if (tick.places) {
      digits = digits.padStart(tick.places + 1, "0");
      digits = digits.slice(0, -tick.places) + "." + digits.slice(-tick.places);
    }
    return (ticks < 0 ? "-" : "") + digits;
  }

  function clock(timestampNs) {
    return new Date(Math.floor(Number(timestampNs) / 1e6)).toISOString().slice(11, 23);
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function timeCell(timestampNs) {
    const td = document.createElement("td");
    const time = document.createElement("time");
    time.dateTime = new Date(Math.floor(Number(timestampNs) / 1e6)).toISOString();
    time.textContent = clock(timestampNs);
    td.append(time);
    return td;
  }

  function codeCell(text) {
    const td = document.createElement("td");
    const code = document.createElement("code");
    code.textContent = text;
    td.append(code);
    return td;
  }

  function showEmpty(id, rows) {
    el(id).hidden = rows.children.length > 0;
  }

  // -- status lines (polite live regions: they speak only when the text changes) -----------------

  function say(id, text, isError) {
    const line = el(id);
    line.classList.toggle("error", Boolean(isError));
    if (line.textContent !== text) line.textContent = text;
  }

  function sayLive() {
    const ok = live.market && live.executions;
    say("live-status", ok ? "Live." : "Connecting to live updates…", false);
  }

  // -- market data: ladder, tape, phase ------------------------------------------------------------

  const book = { bids: new Map(), asks: new Map() };
  let ladderPending = false;
  let instrumentHalted = !el("halt-badge") || !el("halt-badge").hidden;
  let marketHalted = false;

  function drawLadder() {
    ladderPending = false;
    const asks = [...book.asks.entries()].sort((a, b) => a[0] - b[0]).slice(0, LADDER_LEVELS).reverse();
    const bids = [...book.bids.entries()].sort((a, b) => b[0] - a[0]).slice(0, LADDER_LEVELS);
    const rows = [];
    for (const [level, quantity] of asks) rows.push(ladderRow("ask", "", level, quantity));
    for (const [level, quantity] of bids) rows.push(ladderRow("bid", quantity, level, ""));
    el("ladder-rows").replaceChildren(...rows);
    showEmpty("ladder-empty", el("ladder-rows"));
  }

  function ladderRow(kind, bidQuantity, level, askQuantity) {
    const tr = document.createElement("tr");
    tr.className = kind;
    tr.append(cell(bidQuantity, "num"), cell(price(level), "num price"), cell(askQuantity, "num"));
    return tr;
  }

  function scheduleLadder() {
    if (ladderPending) return;
    ladderPending = true;
    window.requestAnimationFrame(drawLadder);
  }

  function addTrade(trade) {
    const rows = el("tape-rows");
    if (rows.querySelector(`tr[data-trade-id="${Number(trade.trade_id)}"]`)) return;
    const tr = document.createElement("tr");
    tr.dataset.tradeId = String(trade.trade_id);
    tr.append(timeCell(trade.timestamp_ns), cell(price(trade.price), "num"), cell(trade.quantity, "num"),
      cell(trade.aggressor || "auction"));
    rows.prepend(tr);
    while (rows.children.length > TAPE_ROWS) rows.lastElementChild.remove();
    showEmpty("tape-empty", rows);
  }

  function showStatus(message) {
    if (message.symbol === "") marketHalted = message.halted || message.market_halted || false;
    else {
      instrumentHalted = message.halted;
      if (message.market_halted !== undefined) marketHalted = message.market_halted;
      if (el("phase-badge")) el("phase-badge").textContent = message.phase;
    }
    if (el("halt-badge")) el("halt-badge").hidden = !(instrumentHalted || marketHalted);
  }

  function onMarketData(message) {
    if (message.type === "error") return;
    if (message.channel === "l2") {
      if (message.type === "snapshot") {
        book.bids = new Map(message.bids.map((level) => [level.price, level.quantity]));
        book.asks = new Map(message.asks.map((level) => [level.price, level.quantity]));
      } else {
        const side = message.side === "buy" ? book.bids : book.asks;
        if (message.quantity) side.set(message.price, message.quantity);
        else side.delete(message.price);
      }
      scheduleLadder();
    } else if (message.channel === "trades") {
      const trade = message.type === "snapshot" ? message.last : message;
      if (trade) addTrade(trade);
    } else if (message.channel === "status") {
      showStatus(message);
    }
  }

  // -- my orders and fills -------------------------------------------------------------------------

  function hidden(name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function button(text, label, className) {
    const b = document.createElement("button");
    b.type = "submit";
    b.className = className;
    b.append(text);
    const more = document.createElement("span");
    more.className = "visually-hidden";
    more.textContent = label;
    b.append(more);
    return b;
  }

  function field(text, name, value, mode) {
    const label = document.createElement("label");
    label.append(text + " ");
    const input = document.createElement("input");
    input.type = "text";
    input.name = name;
    input.value = value || "";
    input.inputMode = mode;
    label.append(input);
    return label;
  }

  function actionsCell(order) {
    const td = document.createElement("td");
    td.className = "order-actions";
    const suffix = " order " + order.cl_ord_id;
    const cancel = document.createElement("form");
    cancel.method = "post";
    cancel.action = `/orders/${Number(order.order_id)}/cancel`;
    cancel.className = "inline cancel-form";
    cancel.append(hidden("csrf_token", csrf), hidden("symbol", symbol), button("Cancel", suffix, "secondary small"));
    const details = document.createElement("details");
    details.className = "replace";
    const summary = document.createElement("summary");
    summary.append("Replace");
    const more = document.createElement("span");
    more.className = "visually-hidden";
    more.textContent = suffix;
    summary.append(more);
    const replace = document.createElement("form");
    replace.method = "post";
    replace.action = `/orders/${Number(order.order_id)}/replace`;
    replace.className = "replace-form";
    replace.append(hidden("csrf_token", csrf), hidden("symbol", symbol),
      field("New quantity", "quantity", String(order.quantity), "numeric"),
      field("New price", "price", order.price, "decimal"), button("Replace", "", "small"));
    details.append(summary, replace);
    td.append(cancel, details);
    return td;
  }

  function orderRow(order) {
    const tr = document.createElement("tr");
    tr.dataset.orderId = String(order.order_id);
    const priced = (order.price || "") + (order.stop_price ? " stop " + order.stop_price : "");
    tr.append(codeCell(order.cl_ord_id), cell(order.symbol), cell(order.side, "side-" + order.side),
      cell(order.type + " " + order.tif), cell(order.quantity, "num"), cell(priced, "num"),
      cell(order.leaves, "num"), cell(order.cum, "num"), cell(order.status), actionsCell(order));
    return tr;
  }

  function showOrder(order, sequence) {
    if ((orderSeen.get(order.order_id) || 0) > sequence) return;
    orderSeen.set(order.order_id, sequence);
    const rows = el("order-rows");
    const current = rows.querySelector(`tr[data-order-id="${Number(order.order_id)}"]`);
    const open = order.leaves > 0 && (order.status === "new" || order.status === "partially_filled");
    if (!open) {
      if (current) current.remove();
    } else if (current) {
      if (!current.contains(document.activeElement)) current.replaceWith(orderRow(order));
    } else {
      rows.append(orderRow(order));
    }
    showEmpty("orders-empty", rows);
  }

  function addFill(fill, atEnd) {
    const rows = el("fill-rows");
    const key = `${Number(fill.trade_id)}:${Number(fill.order_id)}`;
    if (rows.querySelector(`tr[data-fill="${key}"]`)) return;
    const tr = document.createElement("tr");
    tr.dataset.fill = key;
    tr.append(timeCell(fill.timestamp_ns), cell(fill.symbol), cell(fill.side, "side-" + fill.side),
      cell(fill.last_quantity, "num"), cell(fill.last_price, "num"), codeCell(fill.cl_ord_id), cell(fill.status));
    if (atEnd) rows.append(tr); else rows.prepend(tr);
    while (rows.children.length > FILL_ROWS) rows.lastElementChild.remove();
    showEmpty("fills-empty", rows);
  }

  function onExecution(report) {
    if (report.exec_type === "trade") addFill(report, false);
    if (report.order_id) showOrder(report, report.sequence);
  }

  function onReport(message) {
    if (message.kind === "ready") resync();
    else if (message.kind === "execution") onExecution(message);
    else if (message.kind === "cancel_reject") say("entry-status", "Refused: " + message.reason_text + ".", true);
  }

  async function resync() {
    // Whatever happened while the socket was down: the state now, from the API.
    const [orders, fills] = await Promise.all([api("GET", "/api/orders"), api("GET", `/api/fills?limit=${FILL_ROWS}`)]);
    if (orders.ok) {
      const ids = new Set(orders.body.orders.map((order) => String(order.order_id)));
      for (const tr of [...el("order-rows").children]) if (!ids.has(tr.dataset.orderId)) tr.remove();
      for (const order of orders.body.orders) showOrder(order, 0);
      showEmpty("orders-empty", el("order-rows"));
    }
    if (fills.ok) for (const fill of fills.body.fills.slice().reverse()) addFill(fill, false);
  }

  // -- the JSON API and the forms ------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { "Accept": "application/json", "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(path, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
      const data = await response.json();
      return { ok: response.ok, body: data };
    } catch (error) {
      return { ok: false, body: { detail: "the exchange is not answering" } };
    }
  }

  function applyOutcome(outcome) {
    for (const report of outcome.executions) onExecution(report);
  }

  function textOf(form, name) {
    const input = form.elements.namedItem(name);
    return input ? String(input.value).trim() : "";
  }

  orderForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const data = new FormData(orderForm);
    const body = { symbol, side: data.get("side"), type: data.get("type"), tif: data.get("tif"),
      quantity: Number(textOf(orderForm, "quantity")) };
    for (const name of ["price", "stop_price"]) if (textOf(orderForm, name)) body[name] = textOf(orderForm, name);
    if (textOf(orderForm, "display")) body.display = Number(textOf(orderForm, "display"));
    say("entry-status", "Sending…", false);
    const result = await api("POST", "/api/orders", body);
    if (!result.ok) { say("entry-status", "Refused: " + result.body.detail, true); return; }
    const first = result.body.executions[0];
    say("entry-status", `Order ${first.cl_ord_id} ${first.status.replace("_", " ")}.`, false);
    applyOutcome(result.body);
  });

  el("order-rows").addEventListener("submit", async function (event) {
    const form = event.target;
    const row = form.closest("tr");
    if (!row) return;
    event.preventDefault();
    const orderId = Number(row.dataset.orderId);
    let result;
    if (form.classList.contains("cancel-form")) {
      result = await api("DELETE", `/api/orders/${orderId}`);
    } else {
      const body = { quantity: Number(textOf(form, "quantity")) };
      if (textOf(form, "price")) body.price = textOf(form, "price");
      result = await api("PATCH", `/api/orders/${orderId}`, body);
    }
    if (!result.ok) { say("entry-status", "Refused: " + result.body.detail, true); return; }
    say("entry-status", form.classList.contains("cancel-form") ? "Order cancelled." : "Order replaced.", false);
    applyOutcome(result.body);
  });

  // -- sockets -------------------------------------------------------------------------------------

  function socketUrl(path) {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
  }

  function connect(path, name, onOpen, onMessage) {
    let delay = 1000;
    function open() {
      const socket = new WebSocket(socketUrl(path));
      socket.addEventListener("open", function () {
        delay = 1000;
        live[name] = true;
        sayLive();
        onOpen(socket);
      });
      socket.addEventListener("message", function (event) { onMessage(JSON.parse(event.data)); });
      socket.addEventListener("close", function () {
        live[name] = false;
        sayLive();
        window.setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }
    open();
  }

  sayLive();
  if (root.dataset.marketData === "on") {
    connect("/ws/market-data", "market", function (socket) {
      socket.send(JSON.stringify({ op: "subscribe", symbols: [symbol], channels: ["l2", "trades", "status"] }));
    }, onMarketData);
  }
  connect("/ws/executions", "executions", function () {}, onReport);
})();
