// Shared by the console's pages: sign-in check, the signed-in user (GET
// /v1/me: role, language, tenant time zone), the navigation bar with the
// language switch, small DOM helpers, the ticket state machine as the office
// sees it, and how an API refusal is explained.
"use strict";
window.TruckrollConsole = (() => {
  const session = window.TruckrollSession;
  const i18n = window.TruckrollI18n;
  const t = i18n.t;

  const $ = (id) => document.getElementById(id);

  /** `el("button", {type: "button", onclick}, "text", child…)` */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Office actions by status, as the server's state machine allows them
  // (sync/src/machine.rs TRANSITIONS, office side).
  const OFFICE_ACTIONS = {
    new: ["assign", "cancel"],
    assigned: ["reassign", "unassign", "cancel"],
    accepted: ["reassign", "unassign", "hold", "cancel"],
    en_route: ["reassign", "unassign", "hold", "cancel"],
    on_site: ["hold", "cancel"],
    on_hold: ["resume", "reassign", "unassign", "cancel"],
    work_done: ["close"],
    closed: ["reopen"],
    cancelled: ["reopen"],
  };
  const allows = (status, action) => (OFFICE_ACTIONS[status] || []).includes(action);

  /** A refusal in words: a stale version explained, every other refusal with the API's reason. */
  function explain(error) {
    if (error && error.status === 409 && String(error.type).endsWith("/version_conflict")) return t("common.conflict", { detail: error.message });
    if (error && error.status && error.status < 500) return t("common.refused", { detail: error.message });
    return t("common.error", { detail: error?.message || String(error) });
  }

  const statusLabel = (status) => t(`status.${status}`);

  /** The earliest running SLA deadline and its state (ok, warning, breached). */
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
    return { due, state: due === null ? "none" : level };
  }

  function duration(ms) {
    const minutes = Math.round(Math.abs(ms) / 60000);
    const hours = Math.floor(minutes / 60);
    if (hours >= 24) return `${i18n.number(Math.floor(hours / 24))}d ${i18n.number(hours % 24)}h`;
    if (hours >= 1) return `${i18n.number(hours)}h ${i18n.number(minutes % 60)}m`;
    return `${i18n.number(minutes)}m`;
  }

  function slaText(ticket) {
    const { due } = slaSummary(ticket);
    if (due === null) return t("queue.sla.none");
    const left = due - Date.now();
    return left >= 0 ? t("queue.sla.left", { time: duration(left) }) : t("queue.sla.late", { time: duration(left) });
  }

  const PAGES = [
    ["/tickets", "nav.queue"],
    ["/tickets/new", "nav.new"],
    ["/dispatch", "nav.map"],
    ["/reports", "nav.reports"],
    ["/admin", "nav.admin"],
    ["/automation", "nav.automation"],
    ["/knowledge", "nav.knowledge"],
    ["/parts", "nav.parts"],
    ["/approvals", "nav.approvals"],
    ["/schedule", "nav.schedule"],
  ];

  function navigation(me, current) {
    const header = $("topbar");
    const links = me.role === "technician"
      ? []
      : PAGES.filter(([path]) => path !== "/tickets/new" || me.role === "admin" || me.role === "dispatcher");
    const nav = el("nav", { "aria-label": t("nav.main") },
      el("ul", { class: "nav" }, links.map(([path, key]) =>
        el("li", {}, el("a", { href: path, "aria-current": path === current ? "page" : undefined }, t(key))))));
    const select = el("select", { id: "language", "aria-label": t("nav.language") },
      i18n.SUPPORTED.map((code) => el("option", { value: code, selected: code === i18n.locale() }, t(`lang.${code}`))));
    select.addEventListener("change", async () => {
      await session.api("/v1/me", { method: "PATCH", body: JSON.stringify({ locale: select.value }) });
      location.reload();
    });
    const signOut = el("button", { type: "button", id: "sign-out", onclick: () => { session.signOut(); location.assign("/"); } }, t("nav.signout"));
    // Issue 21: the signed-in user's unread notifications (the list is on /automation).
    const bell = me.role === "technician" ? "" : el("a", { href: "/automation#notifications-card", id: "nav-notifications" }, t("nav.notifications"));
    if (bell) session.api("/v1/me/notifications?unread=true&limit=200").then((items) => {
      if (items.length) bell.textContent = t("nav.notifications.unread", { n: items.length });
    }).catch(() => {});
    header.replaceChildren(
      el("h1", {}, el("a", { href: me.role === "technician" ? "/technician" : "/tickets", class: "brand" }, t("app.name"))),
      nav,
      el("span", { class: "spacer" }),
      bell,
      el("label", { class: "visually-hidden", for: "language" }, t("nav.language")),
      select,
      el("span", { class: "who" }, `${me.name} · ${me.tenant.name}`),
      signOut,
    );
  }

  /**
   * Starts a console page: signed in, the user read, language and time zone
   * set, the navigation drawn. Office pages send technicians to their own.
   */
  async function start(current, { technicianPage = false } = {}) {
    if (!session.signedIn()) {
      location.assign(`/?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new Error("not signed in");
    }
    const me = await session.api("/v1/me");
    if (me.role === "technician" && !technicianPage) {
      location.assign("/technician");
      throw new Error("technicians use their own page");
    }
    i18n.configure(me);
    navigation(me, current);
    return me;
  }

  /** Everything of a paged listing (up to `max` items). */
  async function listAll(path, max = 1000) {
    const items = [];
    let cursor = null;
    do {
      const separator = path.includes("?") ? "&" : "?";
      const page = await session.api(`${path}${separator}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < max);
    return items;
  }

  /**
   * A form for a category's custom fields, from its JSON Schema (object
   * properties of type string — with enum as a select — number, integer,
   * boolean). Returns {node, read()} where read() gives the values or
   * throws with the fields missing.
   */
  function customFieldsForm(schema, values = {}, idPrefix = "cf") {
    const properties = (schema && schema.properties) || {};
    const required = new Set((schema && schema.required) || []);
    const names = Object.keys(properties);
    const fields = [];
    const node = el("div", { class: "custom-fields" });
    if (names.length === 0) node.append(el("p", { class: "hint" }, t("ticket.custom.none")));
    for (const name of names) {
      const spec = properties[name] || {};
      const id = `${idPrefix}-${name}`;
      const label = `${spec.title || name}${required.has(name) ? " *" : ""}`;
      let input;
      const value = values[name];
      if (Array.isArray(spec.enum)) {
        input = el("select", { id, name },
          el("option", { value: "" }, t("common.none")),
          spec.enum.map((option) => el("option", { value: String(option), selected: value === option }, String(option))));
      } else if (spec.type === "boolean") {
        input = el("input", { id, name, type: "checkbox", checked: value === true });
      } else if (spec.type === "number" || spec.type === "integer") {
        input = el("input", { id, name, type: "number", step: spec.type === "integer" ? "1" : "any", value: value ?? "",
          min: spec.minimum ?? undefined, max: spec.maximum ?? undefined });
      } else {
        input = el("input", { id, name, type: "text", value: value ?? "", maxlength: spec.maxLength ?? undefined });
      }
      if (required.has(name)) input.setAttribute("aria-required", "true");
      const row = spec.type === "boolean"
        ? el("div", { class: "field check" }, input, el("label", { for: id }, label))
        : el("div", { class: "field" }, el("label", { for: id }, label), input);
      if (spec.description) {
        const hintId = `${id}-hint`;
        row.append(el("small", { id: hintId, class: "hint" }, spec.description));
        input.setAttribute("aria-describedby", hintId);
      }
      node.append(row);
      fields.push({ name, spec, input });
    }
    function read() {
      const out = {};
      const missing = [];
      for (const { name, spec, input } of fields) {
        let v;
        if (spec.type === "boolean") v = input.checked;
        else if (input.value === "") v = undefined;
        else if (spec.type === "number") v = Number(input.value);
        else if (spec.type === "integer") v = parseInt(input.value, 10);
        else if (Array.isArray(spec.enum) && typeof spec.enum[0] === "number") v = Number(input.value);
        else v = input.value;
        if (v === undefined) { if (required.has(name)) missing.push(spec.title || name); continue; }
        out[name] = v;
      }
      if (missing.length) throw new Error(missing.map((f) => t("form.required", { field: f })).join(" "));
      return out;
    }
    return { node, read };
  }

  return { $, el, t, i18n, session, start, explain, allows, statusLabel, slaSummary, slaText, listAll, customFieldsForm, duration };
})();
