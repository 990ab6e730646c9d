"use strict";
// A technician's landing: their open jobs, read-only; the phone app is their tool.
(async () => {
  const { $, el, t, session, start, explain, statusLabel, slaText, slaSummary } = window.TruckrollConsole;
  try { await start("/technician", { technicianPage: true }); } catch { return; }
  try {
    const page = await session.api("/v1/tickets?limit=200");
    const open = page.items.filter((x) => !["closed", "cancelled"].includes(x.status));
    $("rows").replaceChildren(...(open.length ? open.map((x) => el("tr", { dataset: { ticketId: x.id } },
      el("td", {}, x.number), el("td", {}, x.title), el("td", {}, statusLabel(x.status)),
      el("td", {}, x.priority), el("td", { class: `sla ${slaSummary(x).state}` }, slaText(x))))
      : [el("tr", {}, el("td", { colspan: 5, class: "hint" }, t("tech.empty")))]));
  } catch (error) {
    $("message").textContent = explain(error);
  }
  document.title = `${t("tech.title")} · Truckroll`;
  window.truckrollTechnician = { ready: true };
})();
