// One ticket: editable header and custom fields (each save sends the
// version read; a 409 is explained), SLA clocks, actions the state allows,
// candidates, comments, work record, timeline. Follows changes through the
// live stream (`/v1/live`, bounded to the ticket's site: a delta naming this
// ticket triggers a re-read), with a slow poll for what the stream does not
// carry (comments, work) and as the fallback when the stream is down.
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain, allows, statusLabel, slaSummary, listAll, customFieldsForm } = window.TruckrollConsole;
  let me;
  try { me = await start("/ticket"); } catch { return; }
  const id = new URLSearchParams(location.search).get("id");
  const state = { ticket: null, version: null, dirtyHeader: false, dirtyCustom: false, categories: [], customForm: null, names: new Map() };
  window.truckrollTicket = state;
  const office = me.role === "admin" || me.role === "dispatcher";

  for (const p of ["P1", "P2", "P3", "P4"]) $("priority").append(el("option", { value: p }, t(`priority.${p}`)));
  for (const r of ["waiting_customer", "waiting_parts"]) $("hold-reason").append(el("option", { value: r }, t(`hold.${r}`)));

  async function technicianName(technicianId) {
    if (!technicianId) return t("queue.unassigned");
    if (!state.names.has(technicianId)) {
      const tech = await session.api(`/v1/technicians/${technicianId}`).catch(() => null);
      state.names.set(technicianId, tech ? tech.name : technicianId.slice(0, 8));
    }
    return state.names.get(technicianId);
  }

  // ---- rendering ---------------------------------------------------------
  async function renderTicket(ticket) {
    state.ticket = ticket;
    state.version = ticket.updated_at;
    document.title = `${ticket.number} · Truckroll`;
    $("ticket-number").textContent = ticket.number;
    $("ticket-status").textContent = statusLabel(ticket.status);
    $("ticket-status").className = `badge status-${ticket.status}`;
    $("title").value = ticket.title;
    $("description").value = ticket.description;
    $("priority").value = ticket.priority;
    $("tags").value = ticket.tags.join(", ");
    state.dirtyHeader = false;
    for (const field of ["title", "description", "priority", "tags"]) $(field).disabled = !office;
    $("save-header").hidden = !office;
    await Promise.all([renderFacts(ticket), renderCustom(ticket)]);
    renderSla(ticket);
    renderActions(ticket);
    renderCandidates(ticket);
  }

  async function renderFacts(ticket) {
    const site = await session.api(`/v1/sites/${ticket.site_id}`).catch(() => null);
    if (site) follow(site);
    const customer = site ? await session.api(`/v1/customers/${site.customer_id}`).catch(() => null) : null;
    const asset = ticket.asset_id ? await session.api(`/v1/assets/${ticket.asset_id}`).catch(() => null) : null;
    const rows = [
      ["ticket.status", ticket.hold_reason ? `${statusLabel(ticket.status)} · ${t(`hold.${ticket.hold_reason}`)}` : statusLabel(ticket.status)],
      ["ticket.assignee", await technicianName(ticket.assignee_id)],
      ["ticket.field.category", ticket.category],
      ["ticket.customer", customer ? joined([customer.name,
        revealable(`/v1/customers/${customer.id}/reveal`, "phone", customer.phone),
        revealable(`/v1/customers/${customer.id}/reveal`, "email", customer.email)]) : t("common.none")],
      ["ticket.site", site ? joined([site.name, revealable(`/v1/sites/${site.id}/reveal`, "address", site.address)]) : t("common.none")],
      ["ticket.asset", asset ? `${asset.serial} · ${asset.model}` : t("common.none")],
      ["ticket.created", i18n.dateTime(ticket.created_at)],
      ["ticket.updated", i18n.dateTime(ticket.updated_at)],
    ];
    $("facts").replaceChildren(...rows.flatMap(([key, value]) => [el("dt", {}, t(key)), el("dd", { dataset: { fact: key } }, value)]));
  }

  // Masked values (issue 19) carry this character; an office user may reveal
  // them one at a time, and the server audits each reveal.
  const MASK = "\u2022";
  function revealable(path, field, value) {
    if (!value) return null;
    if (!value.includes(MASK)) return value;
    const shown = el("span", { class: "masked", tabindex: "-1", dataset: { masked: field } }, value);
    const button = el("button", {
      type: "button", class: "reveal", dataset: { reveal: field },
      "aria-label": t("ticket.reveal.label", { field: t(`ticket.reveal.${field}`) }),
      onclick: async () => {
        const answer = await session.api(path, { method: "POST", body: JSON.stringify({ field }) }).catch(() => null);
        if (!answer) return;
        shown.textContent = answer.value ?? "";
        shown.classList.remove("masked");
        button.remove();
        shown.focus();
      },
    }, t("ticket.reveal"));
    return el("span", {}, shown, " ", button);
  }
  function joined(parts) {
    const present = parts.filter(Boolean);
    return present.flatMap((part, i) => (i === 0 ? [part] : [" · ", part]));
  }

  async function renderCustom(ticket) {
    if (state.categories.length === 0) state.categories = await listAll("/v1/categories").catch(() => []);
    const category = state.categories.find((c) => c.name === ticket.category);
    state.customForm = customFieldsForm(category?.custom_fields_schema, ticket.custom_fields || {}, "cf");
    $("custom-fields").replaceChildren(state.customForm.node);
    for (const input of $("custom-fields").querySelectorAll("input, select")) {
      input.disabled = !office;
      input.addEventListener("input", () => { state.dirtyCustom = true; });
    }
    state.dirtyCustom = false;
    $("save-custom").hidden = !office || !category || Object.keys(category.custom_fields_schema?.properties || {}).length === 0;
  }

  function renderSla(ticket) {
    const list = $("sla");
    if (!ticket.sla) { list.replaceChildren(el("li", { class: "hint" }, t("ticket.sla.none"))); return; }
    const summary = slaSummary(ticket);
    list.replaceChildren(...["response", "arrival", "resolution"].filter((n) => ticket.sla[n]).map((name) => {
      const clock = ticket.sla[name];
      let text;
      if (clock.phase === "met") text = t("ticket.sla.met");
      else if (clock.phase === "cancelled") text = t("ticket.sla.cancelled");
      else if (Date.parse(clock.deadline) < Date.now() || clock.state?.kind === "breached") text = `${t("ticket.sla.breached")} · ${t("ticket.sla.due", { at: i18n.dateTime(clock.deadline) })}`;
      else text = t("ticket.sla.due", { at: i18n.dateTime(clock.deadline) });
      return el("li", { class: `clock ${clock.phase} ${summary.state}` }, el("strong", {}, t(`ticket.sla.${name}`)), " ", text);
    }));
  }

  function actionButton(key, run) {
    return el("button", { type: "button", dataset: { action: key }, onclick: run }, t(`ticket.${key}`));
  }

  function requireReason() {
    const reason = $("reason").value.trim();
    if (!reason) { $("action-message").textContent = t("ticket.reason.required"); $("reason").focus(); return null; }
    return reason;
  }

  async function act(label, body, reason) {
    $("action-message").textContent = t("common.loading");
    try {
      const ticket = await session.api(`/v1/tickets/${id}`, { method: "PATCH", body: JSON.stringify({ ...body, version: state.version }) });
      if (reason) await comment(t("ticket.reason.comment", { action: label, reason }), "internal");
      $("reason").value = "";
      await renderTicket(ticket);
      $("action-message").textContent = t("ticket.saved");
      refreshSide();
    } catch (error) {
      $("action-message").textContent = explain(error);
    }
  }

  function renderActions(ticket) {
    const s = ticket.status;
    const buttons = [];
    if (office) {
      if (allows(s, "hold")) buttons.push(actionButton("hold", () => act(t("ticket.hold"), { status: "on_hold", hold_reason: $("hold-reason").value }, $("reason").value.trim())));
      if (allows(s, "resume")) buttons.push(actionButton("resume", () => act(t("ticket.resume"), { status: "accepted" }, $("reason").value.trim())));
      if (allows(s, "close")) buttons.push(actionButton("close", () => act(t("ticket.close"), { status: "closed" }, $("reason").value.trim())));
      if (allows(s, "unassign")) buttons.push(actionButton("unassign", async () => {
        const reason = requireReason(); if (!reason) return;
        await act(t("ticket.unassign"), { assignee_id: null }, reason);
      }));
      if (allows(s, "cancel")) buttons.push(actionButton("cancel", async () => {
        const reason = requireReason(); if (!reason) return;
        await act(t("ticket.cancel"), { status: "cancelled" }, reason);
      }));
      if (allows(s, "reopen")) buttons.push(actionButton("reopen", async () => {
        const reason = requireReason(); if (!reason) return;
        await act(t("ticket.reopen"), { status: "new" }, reason);
      }));
    }
    $("hold-reason-field").hidden = !(office && allows(s, "hold"));
    $("actions").replaceChildren(...(buttons.length ? buttons : [el("p", { class: "hint" }, t("ticket.no_actions"))]));
  }

  async function renderCandidates(ticket) {
    const list = $("candidates");
    const verb = allows(ticket.status, "assign") ? "assign" : allows(ticket.status, "reassign") ? "reassign" : null;
    if (!office || !verb) { list.replaceChildren(el("li", { class: "hint" }, t("ticket.candidates.na"))); return; }
    let candidates;
    try {
      candidates = await session.api(`/v1/tickets/${id}/candidates?k=5`);
    } catch (error) {
      list.replaceChildren(el("li", { class: "hint" }, explain(error)));
      return;
    }
    candidates = candidates.filter((c) => c.technician_id !== ticket.assignee_id);
    if (candidates.length === 0) { list.replaceChildren(el("li", { class: "hint" }, t("ticket.candidates.none"))); return; }
    const items = [];
    for (const c of candidates) {
      const name = await technicianName(c.technician_id);
      const r = c.reasons;
      items.push(el("li", { dataset: { technicianId: c.technician_id } },
        el("strong", {}, name),
        el("div", { class: "why" }, t("ticket.why", { km: i18n.number(r.distance_m / 1000, { maximumFractionDigits: 1 }), minutes: i18n.number(Math.round(r.travel_minutes)), load: r.open_jobs, capacity: r.capacity })),
        el("button", { type: "button", onclick: () => assign(c.technician_id, name, verb) }, t(`ticket.${verb}`, { name }))));
    }
    list.replaceChildren(...items);
  }

  async function assign(technicianId, name, verb) {
    let reason = null;
    if (verb === "reassign") { reason = requireReason(); if (!reason) return; }
    $("action-message").textContent = t("common.loading");
    try {
      const ticket = await session.api(`/v1/tickets/${id}/assign`, { method: "POST", body: JSON.stringify({ technician_id: technicianId, version: state.version }) });
      if (reason) await comment(t("ticket.reason.comment", { action: t("ticket.reassign", { name }), reason }), "internal");
      $("reason").value = "";
      await renderTicket(ticket);
      $("action-message").textContent = t("ticket.assigned", { name });
      refreshSide();
    } catch (error) {
      $("action-message").textContent = explain(error);
    }
  }

  // ---- comments, work, timeline ------------------------------------------
  async function comment(body, visibility) {
    return session.api(`/v1/tickets/${id}/comments`, { method: "POST", body: JSON.stringify({ body, visibility }) });
  }
  async function renderComments() {
    const page = await session.api(`/v1/tickets/${id}/comments?limit=200`).catch(() => ({ items: [] }));
    $("comments").replaceChildren(...(page.items.length ? page.items.map((c) => el("li", { class: `comment ${c.visibility}` },
      el("span", { class: `badge ${c.visibility}` }, t(`ticket.comment.${c.visibility}_badge`)), " ",
      el("time", { datetime: c.created_at }, i18n.dateTime(c.created_at)),
      el("p", {}, c.body))) : [el("li", { class: "hint" }, t("ticket.comments.empty"))]));
  }
  async function renderWork() {
    const work = await session.api(`/v1/tickets/${id}/work`).catch(() => null);
    const box = $("work");
    if (!work) { box.replaceChildren(el("p", { class: "hint" }, t("ticket.work.empty"))); return; }
    const parts = [];
    if (work.notes) parts.push(el("h4", {}, t("ticket.work.notes")), el("p", { class: "notes" }, work.notes));
    if (work.checklist.length) parts.push(el("h4", {}, t("ticket.work.checklist")), el("ul", {}, work.checklist.map((c) => el("li", {}, `${c.done ? "☑" : "☐"} ${c.label}`))));
    if (work.parts.length) parts.push(el("h4", {}, t("ticket.work.parts")), el("ul", {}, work.parts.map((p) => el("li", {}, `${p.part_number} × ${i18n.number(p.quantity)}${p.serial ? ` (${p.serial})` : ""}`))));
    if (work.time_entries.length) parts.push(el("h4", {}, t("ticket.work.time")), el("ul", {}, work.time_entries.map((e) => el("li", {}, `${e.kind}: ${i18n.dateTime(e.started_at || e.start)} – ${i18n.dateTime(e.ended_at || e.end)}`))));
    const photos = work.photos.filter((p) => p.thumbnail || p.download);
    if (photos.length) parts.push(el("h4", {}, t("ticket.work.photos")), el("div", { class: "photos" }, photos.map((p, i) =>
      el("a", { href: p.download?.url || p.thumbnail.url, target: "_blank", rel: "noopener" },
        el("img", { src: (p.thumbnail || p.download).url, alt: `${t("ticket.work.photos")} ${i + 1}`, width: 120, height: 90 })))));
    box.replaceChildren(...(parts.length ? parts : [el("p", { class: "hint" }, t("ticket.work.empty"))]));
  }
  async function renderTimeline() {
    const page = await session.api(`/v1/tickets/${id}/timeline?limit=100`).catch(() => ({ items: [] }));
    $("timeline").replaceChildren(...(page.items.length ? page.items.map((e) => el("li", { class: `entry ${e.kind}` },
      el("time", { datetime: e.at }, i18n.dateTime(e.at)), " · ", el("strong", {}, e.actor.name), " · ", e.summary))
      : [el("li", { class: "hint" }, t("ticket.timeline.empty"))]));
  }
  function refreshSide() { renderComments(); renderWork(); renderTimeline(); }

  // ---- saving --------------------------------------------------------------
  // A refusal in the alert; a stale version also offers a Reload button.
  function showRefusal(error) {
    const parts = [explain(error)];
    if (String(error.type).endsWith("/version_conflict")) parts.push(" ", el("button", { type: "button", id: "reload", onclick: () => location.reload() }, t("common.reload")));
    $("message").replaceChildren(...parts);
  }
  for (const field of ["title", "description", "priority", "tags"]) $(field).addEventListener("input", () => { state.dirtyHeader = true; });
  $("header-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: $("title").value.trim(),
      description: $("description").value,
      priority: $("priority").value,
      tags: $("tags").value.split(",").map((s) => s.trim()).filter(Boolean),
      version: state.version,
    };
    $("header-message").textContent = t("common.loading");
    try {
      const ticket = await session.api(`/v1/tickets/${id}`, { method: "PATCH", body: JSON.stringify(body) });
      await renderTicket(ticket);
      $("header-message").textContent = t("ticket.saved");
      renderTimeline();
    } catch (error) {
      $("header-message").textContent = "";
      showRefusal(error);
    }
  });
  $("custom-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    let fields;
    try { fields = state.customForm.read(); } catch (error) { $("custom-message").textContent = error.message; return; }
    try {
      const ticket = await session.api(`/v1/tickets/${id}`, { method: "PATCH", body: JSON.stringify({ custom_fields: fields, version: state.version }) });
      await renderTicket(ticket);
      $("custom-message").textContent = t("ticket.saved");
    } catch (error) {
      $("custom-message").textContent = "";
      showRefusal(error);
    }
  });
  $("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = $("comment-body").value.trim();
    if (!body) { $("comment-message").textContent = t("form.required", { field: t("ticket.comment.body") }); return; }
    const visibility = document.querySelector("input[name=visibility]:checked").value;
    try {
      await comment(body, visibility);
      $("comment-body").value = "";
      $("comment-message").textContent = t("ticket.comment.added");
      renderComments();
      renderTimeline();
    } catch (error) {
      $("comment-message").textContent = explain(error);
    }
  });

  // ---- following changes ----------------------------------------------------
  async function poll() {
    try {
      const ticket = await session.api(`/v1/tickets/${id}`);
      if (ticket.updated_at === state.version) return;
      if (state.dirtyHeader || state.dirtyCustom) {
        // Keep what the user typed and the version they read: a save is refused and explained.
        $("notice").textContent = t("ticket.changed", { status: statusLabel(ticket.status) });
        return;
      }
      await renderTicket(ticket);
      $("notice").textContent = t("ticket.refreshed");
      refreshSide();
    } catch { /* the next poll tries again */ }
  }

  // The map's stream, bounded to a few metres around the site: its snapshot
  // and deltas name this ticket whenever its status, assignee, priority or
  // version change (and `gone_tickets` when it closes).
  const live = { socket: null, site: null, retry: 1000, connected: false };
  state.live = live;
  function follow(site) {
    const here = site.location;
    if (!here || (live.site && live.site.id === site.id && live.site.location.lat === here.lat && live.site.location.lon === here.lon)) return;
    live.site = site;
    if (live.socket) { const old = live.socket; live.socket = null; old.close(); }
    connect();
  }
  async function connect() {
    const token = await session.token().catch(() => null);
    if (!token || !live.site) return;
    const { lat, lon } = live.site.location;
    const d = 0.0005;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/live?access_token=${encodeURIComponent(token)}`
      + `&south=${Math.max(-90, lat - d)}&west=${Math.max(-180, lon - d)}&north=${Math.min(90, lat + d)}&east=${Math.min(180, lon + d)}`;
    const socket = new WebSocket(url);
    live.socket = socket;
    socket.onopen = () => { live.retry = 1000; live.connected = true; };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      const named = (message.tickets || []).find((x) => x.id === id);
      if ((named && named.updated_at !== state.version) || (message.gone_tickets || []).includes(id)) {
        live.events = (live.events || 0) + 1;
        poll();
      }
    };
    socket.onclose = () => {
      live.connected = false;
      if (live.socket !== socket) return;
      live.retry = Math.min(live.retry * 2, 30_000);
      setTimeout(connect, live.retry);
    };
  }

  try {
    await renderTicket(await session.api(`/v1/tickets/${id}`));
  } catch (error) {
    $("message").textContent = explain(error);
    return;
  }
  refreshSide();
  // Comments and work are not in the stream; the status is, unless the stream is down.
  setInterval(() => { if (!live.connected) poll(); }, 4000);
  setInterval(() => { poll(); refreshSide(); }, 30_000);
  // For the page's panels that change the ticket (the macro picker).
  state.refresh = async () => { await renderTicket(await session.api(`/v1/tickets/${id}`)); refreshSide(); };
  state.ready = true;
})();
