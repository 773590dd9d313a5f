// The topic page's live tail: asks for the newest records every few seconds and redraws the table.
// Every key, value and header goes in as text (textContent), never as markup. Without JavaScript the
// page is complete as the server rendered it, only not live.
(function () {
  "use strict";
  const section = document.getElementById("tail");
  if (!section) return;
  const url = section.dataset.recordsUrl;
  const every = Number(section.dataset.refreshMs) || 2000;
  const rows = document.getElementById("tail-rows");
  const empty = document.getElementById("tail-empty");
  const status = document.getElementById("tail-status");
  const toggle = document.getElementById("tail-toggle");
  let paused = false;
  let timer = null;
  let shown = null;  // the records on screen, as "partition:offset,..."; null until the first answer

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function bytesCell(shownBytes) {
    return cell(shownBytes.text + (shownBytes.truncated ? "…" : ""), "bytes " + shownBytes.kind);
  }

  function row(record) {
    const tr = document.createElement("tr");
    tr.append(cell(String(record.partition), "num"), cell(String(record.offset), "num"));
    const when = document.createElement("td");
    const time = document.createElement("time");
    time.dateTime = record.iso_time;
    time.textContent = record.time;
    when.append(time);
    tr.append(when, bytesCell(record.key), bytesCell(record.value));
    const headers = cell("", "bytes");
    for (const header of record.headers) {
      const span = document.createElement("span");
      span.className = "header";
      span.textContent = header.name + ": " + header.value.text;
      headers.append(span);
    }
    tr.append(headers);
    return tr;
  }

  // The status line is a polite live region: it speaks only when something changed (new records,
  // a failure, a recovery), never on every quiet refresh.
  function say(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  async function refresh() {
    let data;
    try {
      const response = await fetch(url, { headers: { "Accept": "application/json" } });
      if (!response.ok) { say("Updates failed (HTTP " + response.status + ")."); return; }
      data = await response.json();
    } catch (error) {
      say("Updates failed: the console is not answering.");
      return;
    }
    const signature = data.records.map((r) => r.partition + ":" + r.offset).join(",");
    if (signature === shown) {
      if (status.textContent.startsWith("Updates failed")) say("Live.");
      return;
    }
    const known = new Set((shown || "").split(","));
    const fresh = data.records.filter((r) => !known.has(r.partition + ":" + r.offset)).length;
    rows.replaceChildren(...data.records.map(row));
    empty.hidden = data.records.length > 0;
    if (shown !== null && fresh > 0) {
      say("Live: " + fresh + " new record" + (fresh === 1 ? "" : "s") + " at " + new Date().toLocaleTimeString() + ".");
    }
    shown = signature;
  }

  function schedule() {
    if (timer !== null) clearInterval(timer);
    timer = paused ? null : setInterval(refresh, every);
  }

  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.setAttribute("aria-pressed", String(paused));  // a toggle keeps its name; its state says paused
    say(paused ? "Paused." : "Live.");
    schedule();
    if (!paused) refresh();
  });
  say("Live.");
  refresh();
  schedule();
})();
