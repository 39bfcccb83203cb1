// Small SVG charts for the dashboard, drawn without any library.
// Why our own: the page must work offline and under a strict Content-Security-Policy,
// and two chart kinds (horizontal bars, stacked columns) need a few dozen lines.
// Every chart also gets a visually hidden data table, so screen readers get the numbers.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f6fb2", "#d9822b", "#2e8b57", "#a23b72", "#6a5acd", "#8c564b",
    "#c0392b", "#17becf", "#7f7f7f", "#b8860b"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgRoot(width, height, label) {
    // natural size in pixels, shrunk by CSS (max-width: 100%) on narrow screens only
    return el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": label, class: "chart-svg", preserveAspectRatio: "xMinYMin meet" });
  }

  function dataTable(caption, headers, rows) {
    const table = document.createElement("table");
    table.className = "sr-only";
    const cap = document.createElement("caption");
    cap.textContent = caption;
    table.appendChild(cap);
    const head = table.createTHead().insertRow();
    for (const h of headers) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      for (const cell of row) tr.insertCell().textContent = String(cell);
    }
    return table;
  }

  // items: [{label, value (0..1), text}]
  function bars(container, items, opts) {
    container.replaceChildren();
    const rowH = 28, labelW = 220, barW = 360, width = labelW + barW + 120;
    const height = Math.max(rowH, items.length * rowH) + 8;
    const svg = svgRoot(width, height, opts.label);
    items.forEach((item, i) => {
      const y = 4 + i * rowH;
      svg.appendChild(el("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "chart-text" },
        item.label.length > 32 ? item.label.slice(0, 31) + "…" : item.label));
      svg.appendChild(el("rect", { x: labelW, y: y + 4, width: barW, height: rowH - 10, fill: "#e6e9ee" }));
      const bar = el("rect", { x: labelW, y: y + 4, width: Math.max(0, Math.min(1, item.value)) * barW,
        height: rowH - 10, fill: PALETTE[0] });
      bar.appendChild(el("title", {}, `${item.label}: ${item.text}`));
      svg.appendChild(bar);
      svg.appendChild(el("text", { x: labelW + barW + 6, y: y + 17, class: "chart-text" }, item.text));
    });
    container.appendChild(svg);
    container.appendChild(dataTable(opts.label, opts.headers, items.map((i) => [i.label, i.text])));
  }

  // days: [{day, counts: {condition: n}}]
  function stackedDays(container, days, opts) {
    container.replaceChildren();
    const conditions = [...new Set(days.flatMap((d) => Object.keys(d.counts)))].sort();
    const colour = new Map(conditions.map((c, i) => [c, PALETTE[i % PALETTE.length]]));
    const maxTotal = Math.max(1, ...days.map((d) => Object.values(d.counts).reduce((a, b) => a + b, 0)));
    const plotH = 180, colW = 34, left = 36, top = 10;
    const width = Math.max(320, left + days.length * colW + 10), height = top + plotH + 40;
    const svg = svgRoot(width, height, opts.label);
    svg.appendChild(el("line", { x1: left, y1: top + plotH, x2: width - 4, y2: top + plotH, stroke: "#555" }));
    svg.appendChild(el("text", { x: left - 6, y: top + 10, "text-anchor": "end", class: "chart-text" }, String(maxTotal)));
    svg.appendChild(el("text", { x: left - 6, y: top + plotH, "text-anchor": "end", class: "chart-text" }, "0"));
    days.forEach((d, i) => {
      let y = top + plotH;
      const x = left + 6 + i * colW;
      for (const c of conditions) {
        const n = d.counts[c] || 0;
        if (!n) continue;
        const h = (n / maxTotal) * plotH;
        y -= h;
        const rect = el("rect", { x, y, width: colW - 10, height: h, fill: colour.get(c) });
        rect.appendChild(el("title", {}, `${d.day} · ${c}: ${n}`));
        svg.appendChild(rect);
      }
      svg.appendChild(el("text", { x: x + (colW - 10) / 2, y: top + plotH + 16, "text-anchor": "middle",
        class: "chart-text small" }, d.day.slice(5)));
    });
    container.appendChild(svg);
    const legend = document.createElement("ul");
    legend.className = "legend";
    for (const c of conditions) {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = colour.get(c);
      li.append(swatch, document.createTextNode(c));
      legend.appendChild(li);
    }
    container.appendChild(legend);
    const rows = days.flatMap((d) => Object.entries(d.counts).map(([c, n]) => [d.day, c, n]));
    container.appendChild(dataTable(opts.label, opts.headers, rows));
  }

  window.DxCharts = { bars, stackedDays };
})();
