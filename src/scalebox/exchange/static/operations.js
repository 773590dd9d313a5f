// The operations view: refresh the vital signs and each instrument's phase, state and prices from
// /api/operations/status every few seconds. Values go in as text (textContent). The buttons are
// plain forms; after one, the page reloads with the new state anyway.
(function () {
  "use strict";
  const root = document.getElementById("operations");
  if (!root) return;
  const url = root.dataset.statusUrl;
  const status = document.getElementById("signs-status");
  const EVERY_MS = 2000;

  function say(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  function pick(data, path) {
    return path.split(".").reduce((value, key) => (value === null || value === undefined ? value : value[key]), data);
  }

  function describe(name, data) {
    if (name === "journal") {
      const entries = Object.entries(data.journal || {});
      return entries.length ? entries.map(([key, value]) => key.replaceAll("_", " ") + " " + value).join(" · ") : "not reported";
    }
    if (name === "standby") {
      const s = data.standby;
      return s ? `at sequence ${s.sequence}, ${s.lag} behind (as of ${s.updated_at})` : "none following";
    }
    if (name === "clearing") {
      const c = data.clearing;
      return `stored to ${c.last_sequence}, ${c.queued} queued` + (c.stalled_at ? ` · stopped at ${c.stalled_at}` : "");
    }
    if (name === "subscribers") {
      return `${data.subscribers.market_data} market data, ${data.subscribers.executions} executions`;
    }
    return String(pick(data, name));
  }

  function showInstruments(data) {
    for (const inst of data.instruments) {
      const row = root.querySelector(`tr[data-symbol="${CSS.escape(inst.symbol)}"]`);
      if (!row) continue;
      for (const name of ["last_price", "best_bid", "best_ask"]) {
        row.querySelector(`[data-field="${name}"]`).textContent = inst[name] || "";
      }
      row.querySelector('[data-field="phase"]').textContent = inst.phase;
    }
  }

  async function refresh() {
    let data;
    try {
      const response = await fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
      if (!response.ok) { say("Updates failed (HTTP " + response.status + ")."); return; }
      data = await response.json();
    } catch (error) {
      say("Updates failed: the exchange is not answering.");
      return;
    }
    document.getElementById("sequence").textContent = String(data.sequence);
    for (const node of root.querySelectorAll("[data-figure]")) node.textContent = describe(node.dataset.figure, data);
    showInstruments(data);
    say("Live.");
  }

  say("Live.");
  window.setInterval(refresh, EVERY_MS);
})();
