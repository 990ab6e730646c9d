// The schedule board (issue 20): a day or a week per technician — working
// hours, absences, booked jobs (their windows) and the driving before each —
// and a lane of windows promised with no technician yet, read from
// GET /v1/schedule/board. A job moves to another technician or
// time by dragging it onto a lane, or by selecting it and filling the move
// form (keyboard); either way through PUT /v1/tickets/{id}/window, so the
// API's refusals (overlap, absence, assigned elsewhere, past) are shown as
// they come. "Plan this day" computes a day plan, shows what it would change
// beside the board's present, and applies it only when asked.
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain, statusLabel } = window.TruckrollConsole;
  try { await start("/schedule"); } catch { return; }
  const MINUTE = 60_000;
  const HOUR = 60 * MINUTE;
  const state = { board: null, unassigned: null, range: null, selected: null, plan: null, drag: null, ready: false };
  window.truckrollBoard = state;

  // ---- times in the tenant's zone ------------------------------------------
  const zone = () => i18n.timeZone();
  function parts(ms) {
    const format = new Intl.DateTimeFormat("en-CA", { timeZone: zone(), year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    return Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  }
  const localDate = (ms) => { const p = parts(ms); return `${p.year}-${p.month}-${p.day}`; };
  const localClock = (ms) => { const p = parts(ms); return `${p.hour}:${p.minute}`; };
  function offset(ms) {
    const p = parts(ms);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - Math.floor(ms / MINUTE) * MINUTE;
  }
  /** The instant of a local date and clock time in the tenant's zone. */
  function fromLocal(date, clock) {
    const [y, m, d] = date.split("-").map(Number);
    const [h, mi] = clock.split(":").map(Number);
    const guess = Date.UTC(y, m - 1, d, h, mi);
    return guess - offset(guess - offset(guess));
  }
  function shiftDate(date, days) {
    const [y, m, d] = date.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
  }
  const clock = (ms) => new Intl.DateTimeFormat(i18n.locale(), { timeZone: zone(), hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
  const dayLabel = (ms) => new Intl.DateTimeFormat(i18n.locale(), { timeZone: zone(), weekday: "short", month: "short", day: "numeric" }).format(new Date(ms));
  const span = (a, b) => `${clock(a)}–${clock(b)}`;
  const iso = (ms) => new Date(ms).toISOString();

  function say(text) { $("notice").textContent = text; $("message").textContent = ""; }
  function refuse(text) { $("message").textContent = text; $("notice").textContent = ""; }

  // ---- the board ---------------------------------------------------------------
  function jobStart(job) { return Date.parse(job.planned_start || job.starts_at); }

  /** The shown range: a week whole; a day from its first working hour to its last (07–19 at least). */
  function viewRange(board) {
    const from = Date.parse(board.from);
    const to = Date.parse(board.to);
    if (board.days > 1) return [from, to];
    let low = from + 7 * HOUR;
    let high = from + 19 * HOUR;
    for (const j of board.unassigned || []) {
      low = Math.min(low, Date.parse(j.starts_at));
      high = Math.max(high, Date.parse(j.ends_at));
    }
    for (const lane of board.technicians) {
      for (const w of lane.working) { low = Math.min(low, Date.parse(w.starts_at)); high = Math.max(high, Date.parse(w.ends_at)); }
      for (const j of lane.jobs) {
        low = Math.min(low, jobStart(j) - (j.travel_minutes || 0) * MINUTE, Date.parse(j.starts_at));
        high = Math.max(high, Date.parse(j.ends_at));
      }
    }
    return [Math.max(from, Math.floor(low / HOUR) * HOUR), Math.min(to, Math.ceil(high / HOUR) * HOUR)];
  }

  function place(node, startMs, endMs) {
    const [low, high] = state.range;
    const a = Math.max(startMs, low);
    const b = Math.min(endMs, high);
    if (b <= a) return null;
    node.style.left = `${((a - low) / (high - low)) * 100}%`;
    node.style.width = `${((b - a) / (high - low)) * 100}%`;
    return node;
  }

  function axis() {
    const [low, high] = state.range;
    const week = state.board.days > 1;
    const track = el("div", { class: `track axis-track${week ? " week" : ""}`, "aria-hidden": "true" });
    const step = week ? 24 * HOUR : HOUR;
    // A day's hours are centred on their line, so the first label starts an hour in.
    const first = week ? Date.parse(state.board.from) : Math.floor(low / HOUR) * HOUR + HOUR;
    for (let at = first; at < high; at += step) {
      const tick = el("span", { class: "tick" }, state.board.days > 1 ? dayLabel(at) : clock(at));
      tick.style.left = `${((at - low) / (high - low)) * 100}%`;
      track.append(tick);
    }
    return el("div", { class: "lane axis" }, el("div", { class: "name" }, t("board.technician")), track);
  }

  function jobNode(job, lane) {
    const begin = Date.parse(job.starts_at);
    const end = Date.parse(job.ends_at);
    const label = t(lane.technician_id ? "board.job.label" : "board.job.label.unassigned", { number: job.number, title: job.title,
      window: `${dayLabel(begin)} ${span(begin, end)}`, minutes: job.duration_minutes, status: statusLabel(job.status), technician: lane.name });
    const node = el("button", {
      type: "button", class: `job status-${job.status}${state.selected?.job.ticket_id === job.ticket_id ? " selected" : ""}`,
      draggable: "true", "aria-label": label, title: label,
      "aria-pressed": state.selected?.job.ticket_id === job.ticket_id ? "true" : "false",
      dataset: { ticketId: job.ticket_id, technicianId: lane.technician_id },
      onclick: () => select(job, lane),
    },
    el("span", { class: "job-title" }, el("strong", {}, job.number), " ", job.title),
    el("span", { class: "job-time" }, `${span(begin, end)} · ${t("board.minutes", { n: job.duration_minutes })}`));
    node.addEventListener("dragstart", (event) => {
      const box = node.getBoundingClientRect();
      const track = node.parentElement.getBoundingClientRect();
      const [low, high] = state.range;
      const grab = ((event.clientX - box.left) / track.width) * (high - low);
      state.drag = { job, lane, grab: Number.isFinite(grab) ? grab : 0 };
      event.dataTransfer.setData("text/plain", job.ticket_id);
      event.dataTransfer.effectAllowed = "move";
    });
    node.addEventListener("dragend", () => { state.drag = null; });
    return place(node, begin, end);
  }

  function laneNode(lane) {
    const track = el("div", { class: "track", dataset: { technicianId: lane.technician_id } });
    for (const w of lane.working) {
      const node = place(el("div", { class: "working", "aria-hidden": "true" }), Date.parse(w.starts_at), Date.parse(w.ends_at));
      if (node) track.append(node);
    }
    for (const a of lane.absences) {
      const text = t("board.absent", { kind: t(`board.absence.${a.kind}`), note: a.note || "" }).trim();
      const node = place(el("div", { class: "absence", title: `${text} ${dayLabel(Date.parse(a.starts_at))} ${span(Date.parse(a.starts_at), Date.parse(a.ends_at))}` },
        el("span", {}, text)), Date.parse(a.starts_at), Date.parse(a.ends_at));
      if (node) track.append(node);
    }
    for (const job of lane.jobs) {
      if (job.travel_minutes) {
        const arrive = jobStart(job);
        const from = job.travel_from === "home" ? t("board.home") : job.travel_from;
        const text = t("board.travel", { n: job.travel_minutes, from });
        const node = place(el("div", { class: "travel", title: text }, el("span", { class: "visually-hidden" }, text)),
          arrive - job.travel_minutes * MINUTE, arrive);
        if (node) track.append(node);
      }
      const node = jobNode(job, lane);
      if (node) track.append(node);
    }
    track.addEventListener("dragover", (event) => { if (state.drag) { event.preventDefault(); track.classList.add("drop"); } });
    track.addEventListener("dragleave", () => track.classList.remove("drop"));
    track.addEventListener("drop", (event) => {
      event.preventDefault();
      track.classList.remove("drop");
      const drag = state.drag;
      state.drag = null;
      if (!drag) return;
      const box = track.getBoundingClientRect();
      const [low, high] = state.range;
      const at = low + ((event.clientX - box.left) / box.width) * (high - low) - drag.grab;
      const startMs = Math.round(at / (15 * MINUTE)) * 15 * MINUTE;
      const length = (Date.parse(drag.job.ends_at) - Date.parse(drag.job.starts_at)) / MINUTE;
      move(drag.job, lane.technician_id, startMs, length);
    });
    return el("div", { class: "lane", role: "group", "aria-label": lane.name, dataset: { technicianId: lane.technician_id } },
      el("div", { class: "name" }, lane.name,
        el("small", { class: "hint" }, t("board.jobs", { n: lane.jobs.length }))),
      track);
  }

  /** Promised windows without a technician: stacked in rows where they overlap; dragged from here onto a technician. */
  const ROW_REM = 2.7;
  function unassignedNode(lane) {
    const track = el("div", { class: "track", dataset: { technicianId: "" } });
    const rowEnds = [];
    for (const job of [...lane.jobs].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at))) {
      const node = jobNode(job, lane);
      if (!node) continue;
      const begin = Date.parse(job.starts_at);
      let row = rowEnds.findIndex((end) => end <= begin);
      if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
      rowEnds[row] = Date.parse(job.ends_at);
      node.style.top = `${0.25 + row * ROW_REM}rem`;
      track.append(node);
    }
    track.style.minHeight = `${Math.max(1, rowEnds.length) * ROW_REM + 0.4}rem`;
    if (!lane.jobs.length) track.append(el("span", { class: "hint none" }, t("board.unassigned.none")));
    return el("div", { class: "lane unassigned", role: "group", "aria-label": lane.name, dataset: { technicianId: "" } },
      el("div", { class: "name" }, lane.name, el("small", { class: "hint" }, t("board.jobs", { n: lane.jobs.length }))),
      track);
  }

  function render() {
    const board = state.board;
    state.range = viewRange(board);
    const from = Date.parse(board.from);
    const last = Date.parse(board.to) - 1;
    const holidays = board.holidays.map((h) => t("board.holiday", { name: h.name, day: h.day }));
    $("board-range").textContent = [board.days > 1 ? `${dayLabel(from)} – ${dayLabel(last)}` : dayLabel(from), ...holidays].join(" · ");
    state.unassigned = { technician_id: "", name: t("board.unassigned"), jobs: board.unassigned || [] };
    const lanes = board.technicians.map(laneNode);
    $("timeline").replaceChildren(axis(), unassignedNode(state.unassigned),
      ...(lanes.length ? lanes : [el("p", { class: "hint" }, t("board.empty"))]));
    if (state.selected) {
      const again = findJob(state.selected.job.ticket_id);
      if (!again) closeMove();
    }
  }

  function findJob(ticketId) {
    for (const lane of [...(state.board?.technicians || []), ...(state.unassigned ? [state.unassigned] : [])]) {
      const job = lane.jobs.find((j) => j.ticket_id === ticketId);
      if (job) return { job, lane };
    }
    return null;
  }

  async function load() {
    const day = $("board-day").value;
    const days = $("board-span").value;
    history.replaceState(null, "", `/schedule?day=${day}&days=${days}`);
    try {
      state.board = await session.api(`/v1/schedule/board?day=${encodeURIComponent(day)}&days=${encodeURIComponent(days)}`);
      render();
    } catch (error) {
      refuse(explain(error));
    }
  }

  // ---- moving a job: drag, or select and the form ----------------------------
  async function move(job, technicianId, startMs, lengthMinutes) {
    const lane = state.board.technicians.find((l) => l.technician_id === technicianId);
    const body = { starts_at: iso(startMs), ends_at: iso(startMs + lengthMinutes * MINUTE), duration_minutes: job.duration_minutes, technician_id: technicianId };
    try {
      await session.api(`/v1/tickets/${job.ticket_id}/window`, { method: "PUT", body: JSON.stringify(body) });
      say(t("board.moved", { number: job.number, technician: lane ? lane.name : "", window: `${dayLabel(startMs)} ${span(startMs, startMs + lengthMinutes * MINUTE)}` }));
      await load();
      if (state.selected) {
        const again = findJob(job.ticket_id);
        if (again) select(again.job, again.lane, false);
      }
    } catch (error) {
      refuse(error && error.status && error.status < 500
        ? t("board.move.refused", { number: job.number, detail: error.message })
        : explain(error));
    }
  }

  function select(job, lane, focus = true) {
    state.selected = { job, lane };
    for (const node of document.querySelectorAll(".job")) {
      const on = node.dataset.ticketId === job.ticket_id;
      node.classList.toggle("selected", on);
      node.setAttribute("aria-pressed", on ? "true" : "false");
    }
    const technician = $("move-technician");
    const choose = lane.technician_id ? [] : [el("option", { value: "", disabled: true, selected: true }, t("board.move.choose"))];
    technician.replaceChildren(...choose, ...state.board.technicians.map((l) =>
      el("option", { value: l.technician_id, selected: l.technician_id === lane.technician_id }, l.name)));
    const begin = Date.parse(job.starts_at);
    $("move-job").textContent = `${job.number} · ${job.title}`;
    $("move-date").value = localDate(begin);
    $("move-time").value = localClock(begin);
    $("move-length").value = String((Date.parse(job.ends_at) - begin) / MINUTE);
    $("move").hidden = false;
    if (focus) technician.focus();
  }

  function closeMove() {
    const selected = state.selected;
    state.selected = null;
    $("move").hidden = true;
    for (const node of document.querySelectorAll(".job.selected")) { node.classList.remove("selected"); node.setAttribute("aria-pressed", "false"); }
    if (selected) document.querySelector(`.job[data-ticket-id="${selected.job.ticket_id}"]`)?.focus();
  }

  $("move").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.selected) return;
    const length = Number($("move-length").value);
    if (!$("move-technician").value) { refuse(t("board.move.choose")); $("move-technician").focus(); return; }
    if (!$("move-date").value || !$("move-time").value || !(length >= 15)) { refuse(t("board.move.incomplete")); return; }
    move(state.selected.job, $("move-technician").value, fromLocal($("move-date").value, $("move-time").value), length);
  });
  $("move-close").addEventListener("click", closeMove);
  $("move").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeMove();
    // Enter in any field moves (date and time inputs do not all submit by themselves).
    if (event.key === "Enter" && event.target.tagName !== "BUTTON") { event.preventDefault(); $("move").requestSubmit(); }
  });

  // ---- the day plan: compute, show the changes, apply --------------------------
  async function ticketFacts(ticketId) {
    const found = findJob(ticketId);
    if (found) return { number: found.job.number, title: found.job.title };
    const ticket = await session.api(`/v1/tickets/${ticketId}`).catch(() => null);
    return ticket ? { number: ticket.number, title: ticket.title } : { number: ticketId.slice(0, 8), title: "" };
  }
  const laneName = (id) => state.board.technicians.find((l) => l.technician_id === id)?.name || id.slice(0, 8);

  async function showPlan(plan) {
    state.plan = plan;
    const rows = [];
    let changes = 0;
    for (const route of plan.routes) {
      for (const visit of route.visits) {
        const facts = await ticketFacts(visit.ticket_id);
        const now = findJob(visit.ticket_id);
        const at = Date.parse(visit.start_at);
        let change = "same";
        if (!now) change = "new";
        else if (now.lane.technician_id !== route.technician_id) change = "technician";
        else if (Math.abs(jobStart(now.job) - at) >= MINUTE) change = "time";
        if (change !== "same") changes += 1;
        rows.push(el("tr", { class: `change-${change}`, dataset: { ticketId: visit.ticket_id } },
          el("td", {}, el("a", { href: `/ticket?id=${visit.ticket_id}` }, facts.number), " ", facts.title),
          el("td", {}, t(`board.plan.change.${change}`)),
          el("td", {}, now ? `${now.lane.name} · ${dayLabel(jobStart(now.job))} ${clock(jobStart(now.job))}` : t("board.plan.unscheduled")),
          el("td", {}, `${laneName(route.technician_id)} · ${dayLabel(at)} ${span(at, Date.parse(visit.end_at))}`)));
      }
    }
    const unplanned = [];
    for (const miss of plan.unassigned) {
      const facts = await ticketFacts(miss.ticket_id);
      unplanned.push(el("li", {}, t("board.plan.unplanned", { number: facts.number, reason: miss.reason })));
    }
    $("plan-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "4" }, t("board.plan.nothing")))]));
    $("plan-unplanned").replaceChildren(...unplanned);
    $("plan-summary").textContent = t("board.plan.summary", {
      changes, visits: rows.length, unplanned: unplanned.length,
      km: i18n.number(plan.total_distance_m / 1000, { maximumFractionDigits: 1 }),
      baseline: i18n.number(plan.greedy_total_distance_m / 1000, { maximumFractionDigits: 1 }),
    });
    $("plan-apply").disabled = plan.state !== "proposed" || rows.length === 0;
    $("plan").hidden = false;
  }

  $("plan-day").addEventListener("click", async () => {
    const button = $("plan-day");
    button.disabled = true;
    say(t("board.plan.working"));
    try {
      const plan = await session.api("/v1/schedule/plans", { method: "POST", body: JSON.stringify({ day: $("board-day").value, max_seconds: 2 }) });
      await showPlan(plan);
      say(t("board.plan.ready"));
      $("plan-apply").focus();
    } catch (error) {
      refuse(explain(error));
    } finally {
      button.disabled = false;
    }
  });
  $("plan-apply").addEventListener("click", async () => {
    if (!state.plan) return;
    try {
      const applied = await session.api(`/v1/schedule/plans/${state.plan.id}/apply`, { method: "POST" });
      $("plan").hidden = true;
      state.plan = null;
      say(t("board.plan.applied", { n: applied.routes.reduce((sum, r) => sum + r.visits.length, 0) }));
      await load();
    } catch (error) {
      refuse(explain(error));
    }
  });
  $("plan-discard").addEventListener("click", () => { $("plan").hidden = true; state.plan = null; $("plan-day").focus(); });

  // ---- the range ---------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  $("board-day").value = /^\d{4}-\d{2}-\d{2}$/.test(query.get("day") || "") ? query.get("day") : localDate(Date.now());
  $("board-span").value = query.get("days") === "7" ? "7" : "1";
  const step = () => Number($("board-span").value);
  $("range").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("board-span").addEventListener("change", load);
  $("board-day").addEventListener("change", load);
  $("board-prev").addEventListener("click", () => { $("board-day").value = shiftDate($("board-day").value, -step()); load(); });
  $("board-next").addEventListener("click", () => { $("board-day").value = shiftDate($("board-day").value, step()); load(); });
  $("board-today").addEventListener("click", () => { $("board-day").value = localDate(Date.now()); load(); });

  await load();
  state.ready = true;
})();
