// The ticket queue: filters (kept in the address, so a view is a link),
// saved views per user, paging, and bulk actions with a result per ticket.
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain, statusLabel, slaSummary, slaText, listAll } = window.TruckrollConsole;
  let me;
  try { me = await start("/tickets"); } catch { return; }

  const STATUSES = ["new", "assigned", "accepted", "en_route", "on_site", "on_hold", "work_done", "closed", "cancelled"];
  const PRIORITIES = ["P1", "P2", "P3", "P4"];
  const FILTERS = ["q", "status", "priority", "category", "assignee_id", "territory_id", "tag", "sla", "created_from", "created_to", "sort"];
  const state = { tickets: [], selected: new Set(), cursors: [null], page: 0, next: null, technicians: new Map(), views: [] };
  window.truckrollQueue = state;

  const options = (select, entries, any = true) => {
    const current = select.value;
    select.replaceChildren(...(any ? [el("option", { value: "" }, t("common.any"))] : []),
      ...entries.map(([value, label]) => el("option", { value }, label)));
    if (current) select.value = current;
  };

  // ---- reference data for the selects ----------------------------------
  const [categories, technicians, territories] = await Promise.all([
    listAll("/v1/categories").catch(() => []),
    listAll("/v1/technicians").catch(() => []),
    listAll("/v1/territories").catch(() => []),
  ]);
  for (const tech of technicians) state.technicians.set(tech.id, tech);
  options($("status"), STATUSES.map((s) => [s, statusLabel(s)]));
  options($("priority"), PRIORITIES.map((p) => [p, t(`priority.${p}`)]));
  options($("category"), categories.map((c) => [c.name, c.name]));
  options($("assignee_id"), technicians.map((x) => [x.id, x.name]));
  options($("territory_id"), (territories.items || territories).map((x) => [x.id, x.name]));
  options($("sla"), [["at_risk", t("queue.sla.at_risk")], ["breached", t("queue.sla.breached")]]);
  options($("sort"), [["-created", t("queue.sort.newest")], ["relevance", t("queue.sort.relevance")],
    ["urgency", t("queue.sort.urgency")], ["priority", t("queue.sort.priority")]], false);
  $("sort").prepend(el("option", { value: "" }, t("queue.sort.oldest")));
  $("sort").value = "";
  options($("bulk-technician"), technicians.map((x) => [x.id, x.name]), false);
  options($("bulk-status"), ["cancelled", "closed", "new"].map((s) => [s, statusLabel(s)]), false);
  options($("bulk-priority"), PRIORITIES.map((p) => [p, t(`priority.${p}`)]), false);

  // ---- filters <-> address ---------------------------------------------
  function readForm() {
    const query = {};
    for (const name of FILTERS) {
      const value = $(name).value.trim();
      if (value) query[name] = value;
    }
    return query;
  }
  function fillForm(query) {
    for (const name of FILTERS) $(name).value = query[name] || "";
  }
  const fromAddress = () => Object.fromEntries(new URLSearchParams(location.search));

  // Midnight of a calendar day in the tenant's time zone, as an instant.
  function zonedMidnight(day) {
    const [y, m, d] = day.split("-").map(Number);
    const guess = Date.UTC(y, m - 1, d);
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: i18n.timeZone(), hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(guess)).map((p) => [p.type, p.value]));
    const asLocal = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return new Date(guess - (asLocal - guess));
  }

  function apiQuery(query, cursor) {
    const params = new URLSearchParams({ limit: "50" });
    for (const name of ["q", "status", "priority", "category", "assignee_id", "territory_id", "tag"]) {
      if (query[name]) params.set(name, query[name]);
    }
    // A customer's, site's or asset's history (links from the master-data page).
    for (const name of ["customer_id", "site_id", "asset_id"]) {
      if (query[name]) params.set(name, query[name]);
    }
    if (query.created_from) params.set("created_from", zonedMidnight(query.created_from).toISOString());
    if (query.created_to) {
      const end = zonedMidnight(query.created_to);
      params.set("created_to", new Date(end.getTime() + 86_400_000).toISOString());
    }
    // Relevance needs words; without `q` the list keeps the default order.
    if (query.sort && (query.sort !== "relevance" || query.q)) params.set("sort", query.sort);
    if (query.sla) params.set("sla", query.sla);
    if (cursor) params.set("cursor", cursor);
    return params;
  }

  // ---- the list ----------------------------------------------------------
  async function load() {
    const query = fromAddress();
    $("message").textContent = "";
    $("rows").replaceChildren(el("tr", {}, el("td", { colspan: 9 }, t("common.loading"))));
    let page;
    try {
      page = await session.api(`/v1/tickets?${apiQuery(query, state.cursors[state.page])}`);
    } catch (error) {
      $("message").textContent = explain(error);
      $("rows").replaceChildren();
      return;
    }
    state.next = page.next_cursor;
    const tickets = page.items;
    state.tickets = tickets;
    state.selected = new Set([...state.selected].filter((id) => tickets.some((x) => x.id === id)));
    render();
  }

  function render() {
    const rows = state.tickets.map((ticket) => {
      const sla = slaSummary(ticket);
      const assignee = ticket.assignee_id ? (state.technicians.get(ticket.assignee_id)?.name || ticket.assignee_id.slice(0, 8)) : t("queue.unassigned");
      const box = el("input", {
        type: "checkbox", checked: state.selected.has(ticket.id), "aria-label": t("queue.select_ticket", { number: ticket.number }),
        dataset: { ticketId: ticket.id },
        onchange: (event) => { if (event.target.checked) state.selected.add(ticket.id); else state.selected.delete(ticket.id); counts(); },
      });
      return el("tr", { dataset: { ticketId: ticket.id, number: ticket.number } },
        el("td", {}, box),
        el("td", {}, el("a", { href: `/ticket?id=${ticket.id}` }, ticket.number)),
        el("td", { class: "title" }, ticket.title),
        el("td", {}, el("span", { class: `badge status-${ticket.status}` }, statusLabel(ticket.status))),
        el("td", {}, el("span", { class: `prio priority-${ticket.priority}` }, ticket.priority)),
        el("td", {}, ticket.category),
        el("td", {}, assignee),
        el("td", { class: `sla ${sla.state}` }, slaText(ticket)),
        el("td", {}, i18n.dateTime(ticket.created_at)));
    });
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 9, class: "hint" }, t("queue.empty"))));
    $("rows").replaceChildren(...rows);
    $("queue-count").textContent = t("queue.count", { count: state.tickets.length });
    $("next-page").disabled = !state.next;
    $("first-page").disabled = state.page === 0;
    counts();
  }

  function counts() {
    $("selected-count").textContent = t("queue.bulk.selected", { count: state.selected.size });
    $("select-all").checked = state.tickets.length > 0 && state.tickets.every((x) => state.selected.has(x.id));
  }

  $("select-all").addEventListener("change", (event) => {
    for (const ticket of state.tickets) {
      if (event.target.checked) state.selected.add(ticket.id); else state.selected.delete(ticket.id);
    }
    render();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams(readForm());
    history.replaceState(null, "", `/tickets${params.toString() ? `?${params}` : ""}`);
    state.cursors = [null];
    state.page = 0;
    load();
  });
  $("clear").addEventListener("click", () => {
    fillForm({});
    history.replaceState(null, "", "/tickets");
    state.cursors = [null];
    state.page = 0;
    load();
  });
  $("next-page").addEventListener("click", () => {
    if (!state.next) return;
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    load();
  });
  $("first-page").addEventListener("click", () => { state.page = 0; load(); });

  // ---- saved views ---------------------------------------------------------
  async function loadViews(selectedId) {
    state.views = await session.api("/v1/me/views").catch(() => []);
    $("view").replaceChildren(el("option", { value: "" }, t("queue.view.choose")),
      ...state.views.map((v) => el("option", { value: v.id, selected: v.id === selectedId }, v.name)));
  }
  $("view").addEventListener("change", () => {
    const view = state.views.find((v) => v.id === $("view").value);
    if (!view) return;
    fillForm(view.query);
    $("filters").requestSubmit();
  });
  $("view-save").addEventListener("click", async () => {
    const name = $("view-name").value.trim();
    if (!name) { $("view-message").textContent = t("form.required", { field: t("queue.view.name") }); $("view-name").focus(); return; }
    try {
      const saved = await session.api("/v1/me/views", { method: "POST", body: JSON.stringify({ name, query: readForm() }) });
      await loadViews(saved.id);
      $("view-name").value = "";
      $("view-message").textContent = t("queue.view.saved", { name: saved.name });
    } catch (error) {
      $("view-message").textContent = explain(error);
    }
  });
  $("view-delete").addEventListener("click", async () => {
    const id = $("view").value;
    if (!id) return;
    try {
      await session.api(`/v1/me/views/${id}`, { method: "DELETE" });
      await loadViews();
      $("view-message").textContent = t("queue.view.deleted");
    } catch (error) {
      $("view-message").textContent = explain(error);
    }
  });

  // ---- bulk actions: one request per ticket, each with the version shown --
  async function bulk(change) {
    const chosen = state.tickets.filter((x) => state.selected.has(x.id));
    const list = $("bulk-results");
    $("bulk-results-wrap").hidden = false;
    if (chosen.length === 0) { list.replaceChildren(el("li", {}, t("queue.bulk.none"))); return; }
    list.replaceChildren();
    for (const ticket of chosen) {
      const item = el("li", { dataset: { ticketId: ticket.id } }, `${ticket.number}: ${t("common.loading")}`);
      list.append(item);
      try {
        const updated = await change(ticket);
        item.className = "ok";
        item.textContent = t("queue.bulk.ok", { number: ticket.number, status: statusLabel(updated.status) });
      } catch (error) {
        item.className = "failed";
        item.textContent = t("queue.bulk.failed", { number: ticket.number, detail: error.message });
      }
    }
    state.selected.clear();
    await load();
    $("bulk-results-title").focus?.();
  }
  const patch = (ticket, body) => session.api(`/v1/tickets/${ticket.id}`, {
    method: "PATCH", body: JSON.stringify({ ...body, version: ticket.updated_at }),
  });
  $("bulk-assign").addEventListener("click", () => {
    const technician = $("bulk-technician").value;
    bulk((ticket) => session.api(`/v1/tickets/${ticket.id}/assign`, {
      method: "POST", body: JSON.stringify({ technician_id: technician, version: ticket.updated_at }),
    }));
  });
  $("bulk-set-status").addEventListener("click", () => bulk((ticket) => patch(ticket, { status: $("bulk-status").value })));
  $("bulk-set-priority").addEventListener("click", () => bulk((ticket) => patch(ticket, { priority: $("bulk-priority").value })));
  $("bulk-add-tag").addEventListener("click", () => {
    const tag = $("bulk-tag").value.trim();
    if (!tag) { $("bulk-tag").focus(); return; }
    bulk((ticket) => patch(ticket, { tags: [...new Set([...ticket.tags, tag])] }));
  });
  $("bulk-cancel").addEventListener("click", () => bulk((ticket) => patch(ticket, { status: "cancelled" })));

  document.title = `${t("queue.title")} · Truckroll`;
  fillForm(fromAddress());
  await loadViews();
  await load();
  state.ready = true;
})();
