// Refreshes the console's figures in place; without JavaScript the page is complete, only static.
(function () {
  "use strict";
  async function refresh() {
    let data;
    try {
      const response = await fetch("/api/systems", { headers: { "Accept": "application/json" } });
      if (!response.ok) return;
      data = await response.json();
    } catch (error) { return; }
    for (const system of data.systems) {
      const card = document.querySelector(`[data-system="${CSS.escape(system.name)}"]`);
      if (!card) continue;
      const badge = card.querySelector('[data-field="health"]');
      badge.textContent = system.health;
      badge.className = "badge " + (system.health === "up" ? "ok" : system.health === "down" ? "down" : "warn");
      card.querySelector('[data-field="detail"]').textContent = system.detail;
      for (const figure of system.figures) {
        const cell = card.querySelector(`[data-key="${CSS.escape(figure.key)}"]`);
        if (!cell) continue;
        cell.querySelector('[data-field="value"]').textContent = figure.display;
        cell.querySelector("polyline").setAttribute("points", figure.spark);
      }
    }
  }
  setInterval(refresh, 5000);
})();
