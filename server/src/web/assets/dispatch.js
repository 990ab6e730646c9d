// The dispatcher's live map: GET /v1/live for technicians and open tickets,
// a queue of unassigned tickets by SLA urgency, candidates and assignment.
"use strict";
(async () => {
  const session = window.TruckrollSession;
  const i18n = window.TruckrollI18n;
  if (!session.signedIn()) { location.assign("/?next=/dispatch"); return; }
  // The map is the office's: a technician's own page is elsewhere (the
  // live stream refuses them, which used to leave "reconnecting…" forever).
  const me = await session.api("/v1/me").catch(() => null);
  if (me && me.role === "technician") { location.assign("/technician"); return; }
  if (me) i18n.configure(me);

  const t = i18n.t;
  const STATUS_LABEL = (status) => t(`tech.${status}`);
  const TICKET_STATUS = (status) => i18n.t(`status.${status}`);
  const state = {
    technicians: new Map(), // id → record from the stream
    tickets: new Map(),     // id → record from the stream
    selected: null,         // ticket id in the detail panel
    fitted: false,
    socket: null,
    retry: 500,
    recent: [],
    cursor: null,           // resume point of the stream (?since=)
    cursorBounds: null,     // the bounds the cursor was taken under
    notices: new Map(),     // ticket id → "warning" | "breach", from the stream
    starts: [],             // how each connection began: "replayed" or the snapshot's reason
    totals: null,           // the tenant's counts from the last snapshot, whatever the view
  };
  // For tests and the curious: the model behind the map.
  window.truckrollDispatch = state;

  const config = await fetch("/web/config.json").then((r) => r.json()).catch(() => ({}));
  const map = L.map("map", { zoomControl: true, keyboard: true, worldCopyJump: true, minZoom: 1, maxZoom: 19 });
  map.setView([20, 0], 2);
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(map);
  }
  state.map = map;
  const technicianLayer = L.markerClusterGroup({ disableClusteringAtZoom: 12, maxClusterRadius: 45, showCoverageOnHover: false });
  map.addLayer(technicianLayer);
  const ticketLayer = L.layerGroup().addTo(map);
  const technicianMarkers = new Map();
  const ticketMarkers = new Map();

  const $ = (id) => document.getElementById(id);
  const escapeHtml = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  // ---- SLA urgency -------------------------------------------------------
  function slaSummary(ticket) {
    const sla = ticket.sla;
    if (!sla) return { due: null, state: "none" };
    let due = null;
    let level = "ok";
    for (const name of ["response", "arrival", "resolution"]) {
      const clock = sla[name];
      if (!clock || clock.phase === "met" || clock.phase === "cancelled") continue;
      const deadline = Date.parse(clock.deadline);
      if (due === null || deadline < due) due = deadline;
      const kind = clock.state && clock.state.kind;
      if (kind === "breached" || deadline < Date.now()) level = "breached";
      else if (kind === "warning" && level !== "breached") level = "warning";
    }
    // A notice the SLA timers fired says so even before the clock shows it.
    const notice = state.notices.get(ticket.id);
    if (notice === "breach") level = "breached";
    else if (notice === "warning" && level === "ok") level = "warning";
    return { due, state: due === null ? "none" : level };
  }
  function countdown(due) {
    if (due === null) return t("queue.sla.none");
    const seconds = Math.round((due - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    const text = abs >= 3600 ? `${Math.floor(abs / 3600)}h ${Math.floor((abs % 3600) / 60)}m`
      : `${Math.floor(abs / 60)}m ${String(abs % 60).padStart(2, "0")}s`;
    return seconds >= 0 ? t("map.sla_left", { time: text }) : t("map.sla_late", { time: text });
  }
  const PRIORITY_RANK = { P1: 0, P2: 1, P3: 2, P4: 3 };
  function urgencyOrder(a, b) {
    const sa = slaSummary(a), sb = slaSummary(b);
    if (sa.due !== null && sb.due !== null && sa.due !== sb.due) return sa.due - sb.due;
    if ((sa.due === null) !== (sb.due === null)) return sa.due === null ? 1 : -1;
    if (a.priority !== b.priority) return PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority];
    return Date.parse(a.created_at) - Date.parse(b.created_at);
  }

  // ---- markers -----------------------------------------------------------
  // The server says available/busy/on a break/off duty; on site is seen here,
  // from the technician's tickets on the map.
  function shownStatus(t) {
    if (t.status === "busy" || t.status === "available") {
      for (const ticket of state.tickets.values()) {
        if (ticket.assignee_id === t.id && ticket.status === "on_site") return "on_site";
      }
    }
    return t.status;
  }
  function technicianIcon(t) {
    t = { ...t, status: shownStatus(t) };
    return L.divIcon({
      className: "plain",
      iconSize: [18, 18],
      html: `<span class="tech-dot status-${escapeHtml(t.status)}" data-technician-id="${t.id}" data-status="${escapeHtml(t.status)}"></span>`,
    });
  }
  function technicianTitle(t) {
    const status = shownStatus(t);
    return i18n.t("map.tech_title", { name: t.name || "—", status: STATUS_LABEL(status), load: t.load, capacity: t.capacity });
  }
  function showTechnician(t) {
    state.technicians.set(t.id, t);
    let marker = technicianMarkers.get(t.id);
    if (!marker) {
      marker = L.marker([t.lat, t.lon], { icon: technicianIcon(t), title: technicianTitle(t), keyboard: true });
      marker.bindTooltip(() => technicianTitle(state.technicians.get(t.id) || t));
      technicianMarkers.set(t.id, marker);
      technicianLayer.addLayer(marker);
    } else {
      marker.setLatLng([t.lat, t.lon]);
      const previous = marker.options.icon.options.html;
      const icon = technicianIcon(t);
      if (icon.options.html !== previous) marker.setIcon(icon);
      technicianLayer.refreshClusters(marker);
    }
  }
  function dropTechnician(id) {
    state.technicians.delete(id);
    const marker = technicianMarkers.get(id);
    if (marker) { technicianLayer.removeLayer(marker); technicianMarkers.delete(id); }
  }
  function ticketIcon(ticket) {
    const sla = slaSummary(ticket);
    const assigned = ticket.assignee_id ? "assigned" : "unassigned";
    return L.divIcon({
      className: "plain",
      iconSize: [18, 18],
      html: `<span class="ticket-pin priority-${escapeHtml(ticket.priority)} sla-${sla.state} ${assigned}" data-ticket-id="${ticket.id}" data-status="${escapeHtml(ticket.status)}" data-assignee="${ticket.assignee_id || ""}"></span>`,
    });
  }
  function showTicket(ticket) {
    if (ticket.closed) { dropTicket(ticket.id); return; }
    const known = state.tickets.get(ticket.id);
    if (!known && state.totals) state.totals.open_tickets += 1;
    state.tickets.set(ticket.id, ticket);
    // Its technician's marker may change (on site).
    for (const techId of new Set([ticket.assignee_id, known?.assignee_id])) {
      const tech = techId && state.technicians.get(techId);
      if (tech) showTechnician(tech);
    }
    if (state.selected === ticket.id) followSelected(known, ticket);
    let marker = ticketMarkers.get(ticket.id);
    const title = `${ticket.number} ${ticket.title} (${ticket.priority}, ${ticket.status})`;
    if (!marker) {
      marker = L.marker([ticket.lat, ticket.lon], { icon: ticketIcon(ticket), title, keyboard: true, zIndexOffset: 1000 });
      marker.on("click", () => openTicket(ticket.id));
      marker.on("keypress", (e) => { if (e.originalEvent.key === "Enter") openTicket(ticket.id); });
      ticketMarkers.set(ticket.id, marker);
      ticketLayer.addLayer(marker);
    } else {
      marker.setLatLng([ticket.lat, ticket.lon]);
      marker.setIcon(ticketIcon(ticket));
      if (marker.getElement()) marker.getElement().title = title;
    }
  }
  function dropTicket(id) {
    if (state.tickets.has(id) && state.totals) state.totals.open_tickets = Math.max(0, state.totals.open_tickets - 1);
    state.tickets.delete(id);
    const marker = ticketMarkers.get(id);
    if (marker) { ticketLayer.removeLayer(marker); ticketMarkers.delete(id); }
  }

  // ---- the queue of unassigned tickets -----------------------------------
  let renderQueued = false;
  function renderSoon() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; renderQueue(); });
  }
  function renderQueue() {
    const queue = [...state.tickets.values()].filter((t) => !t.assignee_id && t.status === "new").sort(urgencyOrder);
    const list = $("queue");
    const focused = document.activeElement && document.activeElement.dataset.ticketId;
    list.replaceChildren(...queue.map((ticket) => {
      const sla = slaSummary(ticket);
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.ticketId = ticket.id;
      button.setAttribute("aria-current", String(state.selected === ticket.id));
      button.innerHTML = `<span class="prio priority-${escapeHtml(ticket.priority)}">${escapeHtml(ticket.priority)}</span>
        <span class="title">${escapeHtml(ticket.number)} · ${escapeHtml(ticket.title)}</span>
        <span class="due ${sla.state}" data-due="${sla.due ?? ""}">${countdown(sla.due)}</span>`;
      button.addEventListener("click", () => openTicket(ticket.id));
      item.append(button);
      return item;
    }));
    if (focused) list.querySelector(`[data-ticket-id="${focused}"]`)?.focus();
    $("queue-count").textContent = `(${queue.length})`;
    // The tenant's counts, not the view's: zooming does not change them.
    const totals = state.totals || { technicians: state.technicians.size, open_tickets: state.tickets.size };
    const tickets = i18n.t("map.open_tickets", { count: totals.open_tickets });
    $("counts").textContent = `${i18n.t("map.technicians", { count: totals.technicians })} · ${totals.open_tickets_capped ? "≥ " : ""}${tickets}`;
  }
  setInterval(() => {
    for (const due of document.querySelectorAll("#queue .due[data-due]")) {
      const at = due.dataset.due === "" ? null : Number(due.dataset.due);
      due.textContent = countdown(at);
      if (at !== null && at < Date.now()) due.classList.add("breached");
    }
  }, 1000);

  // ---- ticket detail, candidates, assignment ------------------------------
  // What the office may do with a ticket in this status (sync/src/machine.rs).
  function assignVerb(ticket) {
    if (ticket.status === "new") return "Assign";
    if (["assigned", "accepted", "en_route", "on_hold"].includes(ticket.status)) return "Reassign to";
    return null;
  }
  function detailMeta(ticket) {
    const sla = slaSummary(ticket);
    const assignee = ticket.assignee_id ? state.technicians.get(ticket.assignee_id)?.name || t("map.a_technician") : t("map.unassigned_lower");
    $("detail-title").textContent = `${ticket.number} · ${ticket.title}`;
    $("detail-meta").textContent = `${ticket.priority} · ${ticket.category} · ${TICKET_STATUS(ticket.status)} · ${assignee} · ${countdown(sla.due)}`;
    $("detail-meta").dataset.status = ticket.status;
    $("detail-link").href = `/ticket?id=${ticket.id}`;
  }
  // The open panel follows the ticket: a new status or assignee redraws
  // what may be done, and says what changed.
  function followSelected(before, ticket) {
    detailMeta(ticket);
    if (before && (before.status !== ticket.status || before.assignee_id !== ticket.assignee_id)) {
      const who = ticket.assignee_id ? ` (${state.technicians.get(ticket.assignee_id)?.name || t("map.a_technician")})` : "";
      $("detail-message").textContent = t("map.changed", { number: ticket.number, status: TICKET_STATUS(ticket.status), who });
      loadCandidates(ticket.id, false);
    }
  }
  async function openTicket(id) {
    const ticket = state.tickets.get(id);
    if (!ticket) return;
    state.selected = id;
    const panel = $("detail");
    panel.hidden = false;
    detailMeta(ticket);
    $("detail-message").textContent = "";
    panel.focus();
    renderSoon();
    if (!map.getBounds().contains([ticket.lat, ticket.lon])) map.panTo([ticket.lat, ticket.lon]);
    await loadCandidates(id, true);
  }
  async function loadCandidates(id, focus) {
    const ticket = state.tickets.get(id);
    const list = $("candidates");
    list.replaceChildren();
    const verb = ticket && assignVerb(ticket);
    if (!verb) {
      list.replaceChildren(Object.assign(document.createElement("li"), { className: "hint", textContent: t("map.no_assignment", { status: TICKET_STATUS(ticket?.status || "closed") }) }));
      return;
    }
    let candidates;
    try {
      candidates = await session.api(`/v1/tickets/${id}/candidates?k=5`);
    } catch (e) {
      $("detail-message").textContent = t("map.no_candidates", { detail: e.message });
      return;
    }
    if (state.selected !== id) return;
    candidates = candidates.filter((c) => c.technician_id !== ticket.assignee_id);
    if (candidates.length === 0) $("detail-message").textContent = t("ticket.candidates.none");
    list.replaceChildren(...candidates.map((c) => {
      const tech = state.technicians.get(c.technician_id);
      const name = tech?.name || c.technician_id.slice(0, 8);
      const r = c.reasons;
      const skills = r.skills.map((s) => `${s.skill} ${s.level}/${s.required_level}`).join(", ");
      const item = document.createElement("li");
      item.dataset.technicianId = c.technician_id;
      item.innerHTML = `<strong>${escapeHtml(name)}</strong>
        <div class="why">${escapeHtml(t("map.why", { km: i18n.number(r.distance_m / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 }), minutes: i18n.number(Math.round(r.travel_minutes)), load: r.open_jobs, capacity: r.capacity, source: r.position_source }))}${skills ? ` · ${escapeHtml(skills)}` : ""}</div>`;
      const assign = document.createElement("button");
      assign.type = "button";
      assign.textContent = t(verb === "Assign" ? "ticket.assign" : "ticket.reassign", { name });
      assign.addEventListener("click", () => assignTo(id, c.technician_id, name));
      item.append(assign);
      return item;
    }));
    if (focus) list.querySelector("button")?.focus();
  }
  async function assignTo(ticketId, technicianId, name) {
    const shown = state.tickets.get(ticketId);
    $("detail-message").textContent = t("map.assigning", { name });
    try {
      // The version the panel showed: a ticket taken meanwhile (an accepted
      // offer, another dispatcher) is refused, not silently taken away.
      const ticket = await session.api(`/v1/tickets/${ticketId}/assign`, {
        method: "POST",
        body: JSON.stringify({ technician_id: technicianId, version: shown?.updated_at }),
      });
      const known = state.tickets.get(ticketId);
      if (known) showTicket({ ...known, status: ticket.status, assignee_id: ticket.assignee_id, updated_at: ticket.updated_at });
      $("detail-message").textContent = t("map.assigned", { number: ticket.number, name });
      renderSoon();
    } catch (e) {
      $("detail-message").textContent = String(e.type).endsWith("/version_conflict")
        ? t("map.stale", { detail: e.message })
        : t("map.not_assigned", { detail: e.message });
    }
  }
  function closeDetail() {
    const id = state.selected;
    state.selected = null;
    $("detail").hidden = true;
    renderSoon();
    requestAnimationFrame(() => document.querySelector(`#queue [data-ticket-id="${id}"]`)?.focus());
  }
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.selected) closeDetail(); });
  $("sign-out").addEventListener("click", () => { session.signOut(); location.assign("/"); });

  // ---- the live stream ---------------------------------------------------
  function boundsMessage() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const wide = b.getEast() - b.getWest() >= 360;
    return {
      type: "bounds",
      south: clamp(b.getSouth(), -90, 90),
      north: clamp(b.getNorth(), -90, 90),
      west: wide ? -180 : ((b.getWest() + 540) % 360) - 180,
      east: wide ? 180 : ((b.getEast() + 540) % 360) - 180,
    };
  }
  function sameBounds(a, b) {
    return !!a && !!b && ["south", "west", "north", "east"].every((k) => Math.abs(a[k] - b[k]) < 1e-9);
  }
  function applySnapshot(message) {
    state.cursor = message.cursor;
    state.cursorBounds = message.bounds;
    state.notices.clear();
    state.totals = null;
    const technicianIds = new Set(message.technicians.map((t) => t.id));
    for (const id of [...state.technicians.keys()]) if (!technicianIds.has(id)) dropTechnician(id);
    const ticketIds = new Set(message.tickets.map((t) => t.id));
    for (const id of [...state.tickets.keys()]) if (!ticketIds.has(id)) dropTicket(id);
    message.technicians.forEach(showTechnician);
    message.tickets.forEach(showTicket);
    state.totals = message.totals ? { ...message.totals } : null;
    if (!state.fitted) {
      state.fitted = true;
      const points = [...message.technicians, ...message.tickets].map((r) => [r.lat, r.lon]);
      map.invalidateSize();
      if (points.length) map.fitBounds(points, { padding: [30, 30], maxZoom: 14, animate: false });
      // From now on only what is in view is streamed.
      map.on("moveend", () => send(boundsMessage()));
      send(boundsMessage());
    }
  }
  function applyDelta(message) {
    state.cursor = message.cursor;
    for (const notice of message.sla_notices || []) {
      if (state.notices.get(notice.ticket_id) !== "breach") state.notices.set(notice.ticket_id, notice.kind);
    }
    message.technicians.forEach(showTechnician);
    message.tickets.forEach(showTicket);
    for (const notice of message.sla_notices || []) {
      const ticket = state.tickets.get(notice.ticket_id);
      if (ticket) showTicket(ticket);
    }
    message.gone_technicians.forEach(dropTechnician);
    message.gone_tickets.forEach(dropTicket);
    if (state.selected && !state.tickets.has(state.selected)) closeDetail();
  }
  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }
  let lastHeard = Date.now();
  async function connect() {
    $("connection").textContent = t("map.connecting");
    const token = await session.token().catch(() => null);
    if (!token) { location.assign("/?next=/dispatch"); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}/v1/live?access_token=${encodeURIComponent(token)}`;
    if (state.fitted) {
      const b = boundsMessage();
      url += `&south=${b.south}&west=${b.west}&north=${b.north}&east=${b.east}`;
      // Same view as before the drop: ask for only what was missed.
      if (state.cursor && sameBounds(b, state.cursorBounds)) url += `&since=${encodeURIComponent(state.cursor)}`;
    }
    let first = true;
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = () => { state.retry = 500; lastHeard = Date.now(); $("connection").textContent = t("map.live"); };
    socket.onmessage = (event) => {
      lastHeard = Date.now();
      const message = JSON.parse(event.data);
      // The last few messages, for diagnosing a page in the field.
      state.recent.push({ type: message.type, technicians: message.technicians?.length, tickets: message.tickets?.length, gone: message.gone_technicians, bounds: message.bounds });
      if (state.recent.length > 20) state.recent.shift();
      if (first) {
        first = false;
        state.starts.push(message.type === "snapshot" ? message.reason : message.replayed ? "replayed" : message.type);
      }
      if (message.type === "snapshot") applySnapshot(message);
      else if (message.type === "delta") applyDelta(message);
      else if (message.type === "heartbeat" && message.cursor) state.cursor = message.cursor;
      else if (message.type === "error") console.warn("live:", message.detail);
      renderSoon();
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      $("connection").textContent = t("map.reconnecting");
      state.retry = Math.min(state.retry * 2, 15_000);
      setTimeout(connect, state.retry);
    };
  }
  // A silent stream (no heartbeat) is reopened; the snapshot catches up.
  setInterval(() => {
    if (state.socket && state.socket.readyState === WebSocket.OPEN && Date.now() - lastHeard > 60_000) state.socket.close();
  }, 5_000);
  connect();
})();
