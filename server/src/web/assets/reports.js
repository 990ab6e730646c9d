// The manager's SLA report: GET /v1/reports/sla for a date range and a
// grouping, charts (vendored Chart.js), a table, and the same report as CSV.
"use strict";
(() => {
  const session = window.TruckrollSession;
  if (!session.signedIn()) { location.assign("/?next=" + encodeURIComponent(location.pathname + location.search)); return; }

  const $ = (id) => document.getElementById(id);
  const state = { report: null, charts: {} };
  // For tests and the curious: the last report shown.
  window.truckrollReports = state;

  const pad = (n) => String(n).padStart(2, "0");
  const day = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  // Default: this month so far (UTC).
  const now = new Date();
  const params = new URLSearchParams(location.search);
  $("from").value = params.get("from") || day(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)));
  $("to").value = params.get("to") || day(now);
  $("group_by").value = params.get("group_by") || "category";

  // The API's range: from the start of `from` to the end of `to` (UTC).
  function query() {
    const from = $("from").value, to = $("to").value;
    if (!from || !to) throw new Error("choose both dates");
    const end = new Date(`${to}T00:00:00Z`);
    end.setUTCDate(end.getUTCDate() + 1);
    const q = new URLSearchParams({ from: `${from}T00:00:00Z`, to: end.toISOString().replace(".000Z", "Z"), group_by: $("group_by").value });
    return `/v1/reports/sla?${q}`;
  }

  // Groups keyed by an id are shown by name: technicians, customers, territories.
  const NAMED = { technician: "/v1/technicians", customer: "/v1/customers", territory: "/v1/territories" };
  const names = new Map();
  async function loadNames(groupBy) {
    const path = NAMED[groupBy];
    if (!path) return;
    let cursor = null;
    do {
      const page = await session.api(`${path}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      for (const item of page.items) names.set(item.id, item.name);
      cursor = page.next_cursor;
    } while (cursor);
  }
  const label = (key) => names.get(key) || key;

  const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return h > 0 ? `${h} h ${pad(m)} min` : `${m} min`;
  }

  function renderTable(report) {
    const body = $("report").querySelector("tbody");
    body.replaceChildren();
    for (const g of report.groups) {
      const row = document.createElement("tr");
      row.dataset.key = g.key;
      const cells = [
        label(g.key), g.tickets, g.covered,
        pct(g.response.attainment_pct), pct(g.arrival.attainment_pct), pct(g.resolution.attainment_pct),
        duration(g.response.median_seconds), duration(g.resolution.median_seconds), duration(g.resolution.p90_seconds),
        `${g.response.breached} / ${g.arrival.breached} / ${g.resolution.breached}`,
        g.backlog, pct(g.first_time_fix.rate_pct),
      ];
      cells.forEach((value, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        cell.textContent = String(value);
        row.append(cell);
      });
      body.append(row);
    }
    if (report.groups.length === 0) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = 12;
      cell.textContent = "No tickets were created in this range.";
      row.append(cell);
      body.append(row);
    }
  }

  function chart(id, config) {
    state.charts[id]?.destroy();
    state.charts[id] = new Chart($(id), config);
  }

  function renderCharts(report) {
    const labels = report.groups.map((g) => label(g.key));
    const colours = { response: "#1f5fbf", arrival: "#1e8e3e", resolution: "#c77700" };
    chart("attainment-chart", {
      type: "bar",
      data: {
        labels,
        datasets: ["response", "arrival", "resolution"].map((t) => ({
          label: t,
          data: report.groups.map((g) => g[t].attainment_pct),
          backgroundColor: colours[t],
        })),
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } },
    });
    const ages = [["under_1d", "< 1 d", "#9ecae1"], ["from_1d_to_3d", "1–3 d", "#4292c6"], ["from_3d_to_7d", "3–7 d", "#f28e2b"], ["over_7d", "≥ 7 d", "#c5221f"]];
    chart("backlog-chart", {
      type: "bar",
      data: {
        labels,
        datasets: ages.map(([field, label, colour]) => ({ label, data: report.groups.map((g) => g.backlog_age[field]), backgroundColor: colour })),
      },
      options: { maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  async function load() {
    $("error").textContent = "";
    $("status").textContent = "loading…";
    try {
      const path = query();
      const report = await session.api(path);
      await loadNames(report.group_by || $("group_by").value).catch(() => {});
      state.report = report;
      renderTable(report);
      renderCharts(report);
      $("status").textContent = `${report.groups.length} groups, as of ${new Date(report.now).toLocaleString()}`;
      const shown = new URLSearchParams({ from: $("from").value, to: $("to").value, group_by: $("group_by").value });
      history.replaceState(null, "", `/reports?${shown}`);
    } catch (e) {
      $("status").textContent = "";
      $("error").textContent = `Cannot load the report: ${e.message}`;
    }
  }

  // The same report as CSV (the API's Accept: text/csv), saved as a file.
  async function downloadCsv() {
    $("error").textContent = "";
    try {
      const token = await session.token();
      const response = await fetch(query(), { headers: { accept: "text/csv", authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(response.statusText);
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `sla-report-${$("from").value}-to-${$("to").value}-by-${$("group_by").value}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (e) {
      $("error").textContent = `Cannot download the CSV: ${e.message}`;
    }
  }

  $("query").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("csv").addEventListener("click", downloadCsv);
  $("sign-out").addEventListener("click", () => { session.signOut(); location.assign("/"); });
  load();
})();
