// History (recent de-identified cases, paged) and the dashboard (live accuracy,
// abstention rate, predictions by condition per day, drawn by charts.js).
"use strict";
(function () {
  const { state, $, t, api, describeError, pct } = window.Dx;
  const PAGE = 10;

  // --- history and dashboard ----------------------------------------------------------
  async function loadHistory() {
    $("history-error").textContent = "";
    try {
      const page = await api("GET", `/v1/cases?limit=${PAGE}&offset=${state.historyOffset}`);
      const body = $("history-table").tBodies[0];
      body.replaceChildren();
      for (const item of page.items) {
        const tr = body.insertRow();
        const cells = [new Date(item.created_at).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB"),
          item.age ?? "–", t(`sex.${item.sex}`), item.top_condition ? `${item.top_condition} (${pct(item.top_probability)})` : "–",
          item.triage ? t(`triage.${item.triage}`) : "–", item.abstained ? t("yes") : t("no"), String(item.feedback)];
        for (const c of cells) tr.insertCell().textContent = String(c);
        if (item.abstained) tr.className = "referred";
      }
      if (!page.items.length) {
        const cell = body.insertRow().insertCell();
        cell.colSpan = 7;
        cell.textContent = t("history.empty");
      }
      const from = page.total ? page.offset + 1 : 0;
      $("page-info").textContent = t("history.page", { from, to: page.offset + page.items.length, total: page.total });
      $("prev-page").disabled = page.offset === 0;
      $("next-page").disabled = page.offset + page.items.length >= page.total;
    } catch (err) {
      if (err.status !== 401) $("history-error").textContent = describeError(err);
    }
  }

  async function loadDashboard() {
    $("dash-error").textContent = "";
    try {
      const d = await api("GET", "/v1/dashboard?days=30");
      $("tile-accuracy").textContent = d.accuracy === null ? "–" : pct(d.accuracy);
      $("tile-judged").textContent = t("dash.judged", { n: d.confirmed + d.rejected });
      $("tile-abstention").textContent = d.abstention_rate === null ? "–" : pct(d.abstention_rate);
      $("tile-predictions").textContent = t("dash.predictions", { n: d.predictions, days: d.days });
      const acc = $("chart-accuracy");
      if (d.by_condition.length) {
        DxCharts.bars(acc, d.by_condition.map((c) => ({ label: c.condition, value: c.accuracy || 0,
          text: `${c.accuracy === null ? "–" : pct(c.accuracy)} (${c.confirmed}/${c.confirmed + c.rejected})` })),
        { label: t("chart.accuracyLabel"), headers: [t("chart.condition"), t("chart.accuracy")] });
      } else acc.textContent = t("dash.noData");
      const days = $("chart-days");
      if (d.per_day.length) {
        DxCharts.stackedDays(days, d.per_day, { label: t("chart.daysLabel"),
          headers: [t("chart.day"), t("chart.condition"), t("chart.count")] });
      } else days.textContent = t("dash.noData");
    } catch (err) {
      if (err.status !== 401) $("dash-error").textContent = describeError(err);
    }
  }

  window.Dx.PAGE = PAGE;
  window.Dx.loadHistory = loadHistory;
  window.Dx.loadDashboard = loadDashboard;
})();
