// Master data: customers, sites (with a small map), assets, categories
// (with their custom-field schema), technicians, users, SLA policies,
// territories (GeoJSON pasted, shown on the map), ticket templates and the
// tenant's settings and retention policy. One page, `/admin?kind=…`, driven by a table of kinds:
// list (active, archived or all), create, edit (with the version read when
// the API gives one), archive, restore, delete — refusals shown as the
// API words them (409 `in_use` names what still refers to the record).
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain, listAll } = window.TruckrollConsole;
  let me;
  try { me = await start("/admin"); } catch { return; }

  const JSON_FIELD = "json";
  // kind → where it lives and what its form holds. `at` is a dotted path in the body.
  const KINDS = {
    customers: { path: "/v1/customers", columns: ["name", "tier", "email", "phone"], lifecycle: true, fields: [
      { at: "name", required: true }, { at: "tier" }, { at: "email", type: "email" }, { at: "phone" }, { at: "contact_person" },
    ] },
    sites: { path: "/v1/sites", columns: ["name", "address", "customer_id"], lifecycle: true, map: true, fields: [
      { at: "customer_id", type: "customer", required: true, createOnly: true }, { at: "name", required: true }, { at: "address", required: true },
      { at: "location.lat", type: "number", required: true, createOnly: true }, { at: "location.lon", type: "number", required: true, createOnly: true },
      { at: "access_notes", type: "textarea" }, { at: "opening_hours" },
    ] },
    assets: { path: "/v1/assets", columns: ["serial", "model", "site_id", "warranty_end"], lifecycle: true, fields: [
      { at: "site_id", type: "site", required: true, createOnly: true }, { at: "serial", required: true }, { at: "model", required: true },
      { at: "warranty_end", type: "date" }, { at: "installed_on", type: "date" },
    ] },
    categories: { path: "/v1/categories", columns: ["name", "description"], lifecycle: true, fields: [
      { at: "name", required: true }, { at: "description", type: "textarea" }, { at: "custom_fields_schema", type: JSON_FIELD, fallback: {} },
    ] },
    technicians: { path: "/v1/technicians", columns: ["name", "status", "capacity", "time_zone"], lifecycle: true, fields: [
      { at: "user_id", type: "user", required: true, createOnly: true }, { at: "name", required: true },
      { at: "time_zone", required: true }, { at: "capacity", type: "number" },
      { at: "skills", type: JSON_FIELD, fallback: [] }, { at: "shifts", type: JSON_FIELD, fallback: [] },
    ] },
    users: { path: "/v1/users", columns: ["name", "email", "role", "active"], users: true, fields: [
      { at: "email", type: "email", required: true, createOnly: true }, { at: "name", required: true },
      { at: "role", type: "role", required: true }, { at: "password", type: "password", required: true, createOnly: true },
    ] },
    sla: { path: "/v1/sla/policies", columns: ["name"], lifecycle: true, fields: [
      { at: "name", required: true }, { at: "match", type: JSON_FIELD, fallback: {} },
      { at: "targets", type: JSON_FIELD, fallback: { response_minutes: 60, arrival_minutes: 240, resolution_minutes: 480 } },
    ] },
    territories: { path: "/v1/territories", columns: ["name"], lifecycle: true, map: true, fields: [
      { at: "name", required: true }, { at: "boundary", type: JSON_FIELD, required: true, geojson: true },
    ] },
    templates: { path: "/v1/ticket-templates", columns: ["name"], plainList: true, deletable: true, fields: [
      { at: "name", required: true }, { at: "fields", type: JSON_FIELD, fallback: { title: "", category: "", priority: "P3" } },
    ] },
  };
  // The retention policy's fields (`/v1/retention`) and their upper bounds.
  const RETENTION = [
    ["closed_ticket_anonymise_months", 120],
    ["media_days", 3653],
    ["comment_days", 3653],
    ["location_days", 3653],
  ];
  const params = new URLSearchParams(location.search);
  const kind = KINDS[params.get("kind")] ? params.get("kind") : "customers";
  const spec = KINDS[kind];
  const state = { items: [], editing: null, references: {} };
  window.truckrollAdmin = state;
  const label = (at) => t(`admin.f.${at}`);

  // ---- the kinds as tabs -----------------------------------------------------
  $("kinds").replaceChildren(...[...Object.keys(KINDS), "tenant", "retention"].map((k) =>
    el("li", {}, el("a", { href: `/admin?kind=${k}`, "aria-current": k === (params.get("kind") || "customers") ? "page" : undefined }, t(`admin.kind.${k}`)))));
  if (params.get("kind") === "tenant") { await tenantSettings(); return; }
  if (params.get("kind") === "retention") { await retentionSettings(); return; }
  $("kind-title").textContent = t(`admin.kind.${kind}`);
  document.title = `${t(`admin.kind.${kind}`)} · Truckroll`;

  // ---- references for pickers ---------------------------------------------
  async function references(type) {
    if (state.references[type]) return state.references[type];
    const path = { customer: "/v1/customers", site: "/v1/sites", user: "/v1/users" }[type];
    state.references[type] = path ? await listAll(path, 5000).catch(() => []) : [];
    return state.references[type];
  }
  const nameOf = async (type, id) => (await references(type)).find((x) => x.id === id)?.name || id;

  // ---- the list ----------------------------------------------------------------
  async function load() {
    const archived = $("archived").value;
    const query = spec.lifecycle && archived !== "false" ? `?archived=${archived}` : "";
    try {
      state.items = spec.plainList ? await session.api(spec.path) : await listAll(`${spec.path}${query}`, 2000);
    } catch (error) {
      $("message").textContent = explain(error);
      state.items = [];
    }
    await render();
  }
  async function cell(item, column) {
    const value = item[column];
    if (column === "customer_id") return nameOf("customer", value);
    if (column === "site_id") return nameOf("site", value);
    if (typeof value === "boolean") return value ? t("form.yes") : t("common.none");
    return value ?? t("common.none");
  }
  async function render() {
    $("head").replaceChildren(el("tr", {}, spec.columns.map((c) => el("th", { scope: "col" }, label(c))), el("th", { scope: "col" }, t("admin.actions"))));
    const rows = [];
    for (const item of state.items) {
      const cells = [];
      for (const c of spec.columns) cells.push(el("td", {}, String(await cell(item, c))));
      const name = item.name || item.serial || item.id;
      const buttons = [el("button", { type: "button", onclick: () => edit(item) }, t("admin.edit"), el("span", { class: "visually-hidden" }, ` ${name}`))];
      const history = { customers: "customer_id", sites: "site_id", assets: "asset_id" }[kind];
      if (history) buttons.push(el("a", { href: `/tickets?${history}=${item.id}`, class: "button-link" }, t("admin.tickets"), el("span", { class: "visually-hidden" }, ` ${name}`)));
      if (spec.lifecycle) {
        if (item.archived_at) {
          buttons.push(el("button", { type: "button", onclick: () => lifecycle(item, "restore") }, t("admin.restore"), el("span", { class: "visually-hidden" }, ` ${name}`)));
          buttons.push(el("button", { type: "button", class: "danger", onclick: () => remove(item) }, t("admin.delete"), el("span", { class: "visually-hidden" }, ` ${name}`)));
        } else {
          buttons.push(el("button", { type: "button", onclick: () => lifecycle(item, "archive") }, t("admin.archive"), el("span", { class: "visually-hidden" }, ` ${name}`)));
        }
      }
      if (spec.users) {
        buttons.push(el("button", { type: "button", onclick: () => passwordForm(item) }, t("admin.password"), el("span", { class: "visually-hidden" }, ` ${name}`)));
        buttons.push(el("button", { type: "button", onclick: () => lifecycle(item, item.active ? "deactivate" : "activate") }, t(item.active ? "admin.deactivate" : "admin.activate"), el("span", { class: "visually-hidden" }, ` ${name}`)));
      }
      if (spec.deletable) buttons.push(el("button", { type: "button", class: "danger", onclick: () => remove(item) }, t("admin.delete"), el("span", { class: "visually-hidden" }, ` ${name}`)));
      rows.push(el("tr", { dataset: { id: item.id, name }, class: item.archived_at ? "archived" : undefined }, cells, el("td", { class: "row-actions" }, buttons)));
    }
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: spec.columns.length + 1, class: "hint" }, t("admin.empty"))));
    $("rows").replaceChildren(...rows);
    drawMap();
  }

  // ---- the form -----------------------------------------------------------------
  const get = (object, at) => at.split(".").reduce((o, k) => (o == null ? undefined : o[k]), object);
  function set(object, at, value) {
    const keys = at.split(".");
    let o = object;
    for (const k of keys.slice(0, -1)) o = o[k] ??= {};
    o[keys.at(-1)] = value;
  }
  async function input(field, value) {
    const id = `f-${field.at.replace(/\./g, "-")}`;
    let node;
    if (["customer", "site", "user"].includes(field.type)) {
      const options = await references(field.type);
      node = el("select", { id }, el("option", { value: "" }, t("common.none")),
        options.map((o) => el("option", { value: o.id, selected: o.id === value }, o.name || o.email || o.id)));
    } else if (field.type === "role") {
      node = el("select", { id }, ["admin", "dispatcher", "manager", "technician"].map((r) => el("option", { value: r, selected: r === value }, t(`admin.role.${r}`))));
    } else if (field.type === JSON_FIELD) {
      node = el("textarea", { id, rows: field.geojson ? 8 : 5, class: "code", spellcheck: "false" });
      node.value = JSON.stringify(value ?? field.fallback ?? null, null, 2);
    } else if (field.type === "textarea") {
      node = el("textarea", { id, rows: 3 });
      node.value = value ?? "";
    } else {
      node = el("input", { id, type: field.type || "text", step: field.type === "number" ? "any" : undefined, value: value ?? "" });
    }
    if (field.required) node.setAttribute("aria-required", "true");
    return el("div", { class: "field" }, el("label", { for: id }, `${label(field.at)}${field.required ? " *" : ""}`), node);
  }
  async function showForm(item) {
    state.editing = item;
    $("form-title").textContent = item ? `${t("admin.edit")}: ${item.name || item.serial || item.id}` : t("admin.new");
    const fields = spec.fields.filter((f) => !(item && f.createOnly));
    const nodes = [];
    for (const f of fields) nodes.push(await input(f, item ? get(item, f.at) : undefined));
    if (kind === "technicians" && item) nodes.push(await devices(item));
    $("fields").replaceChildren(...nodes);
    $("form-message").textContent = "";
  }
  /** The technician's phones, read-only: what the office checks when push or sync misbehaves. */
  async function devices(item) {
    let list;
    try {
      list = await session.api(`/v1/technicians/${item.id}/devices`);
    } catch (error) {
      return el("p", { class: "hint", id: "devices" }, explain(error));
    }
    const rows = list.map((d) => el("li", { dataset: { deviceId: d.id } },
      `${d.platform} · ${t("admin.device.registered", { date: i18n.dateTime(d.registered_at) })} · `
        + `${t(d.push_enabled ? "admin.device.push_on" : "admin.device.push_off")} · `
        + t("admin.device.documents", { count: i18n.number(d.documents) })));
    return el("section", { id: "devices", "aria-labelledby": "devices-title" },
      el("h3", { id: "devices-title" }, t("admin.devices")),
      rows.length ? el("ul", {}, rows) : el("p", { class: "hint" }, t("admin.devices.none")));
  }
  const edit = async (item) => { await showForm(item); $("fields").querySelector("input, select, textarea")?.focus(); };
  function readForm() {
    const body = {};
    const missing = [];
    for (const f of spec.fields.filter((x) => !(state.editing && x.createOnly))) {
      const node = $(`f-${f.at.replace(/\./g, "-")}`);
      let value = node.value;
      if (f.type === JSON_FIELD) {
        try { value = JSON.parse(value); } catch (e) { throw new Error(t("admin.bad_json", { field: label(f.at), detail: e.message })); }
      } else if (f.type === "number") {
        value = value === "" ? undefined : Number(value);
      } else if (value === "") {
        value = f.required ? undefined : null;
      }
      if (value === undefined || value === null) { if (f.required) missing.push(label(f.at)); if (value === undefined) continue; }
      // An edit sends only what changed (a partial PATCH).
      if (state.editing) {
        const before = get(state.editing, f.at);
        if (JSON.stringify(before ?? null) === JSON.stringify(value)) continue;
      }
      set(body, f.at, value);
    }
    if (missing.length) throw new Error(missing.map((m) => t("form.required", { field: m })).join(" "));
    return body;
  }
  $("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.editing?.passwordFor) {
      const user = state.editing.passwordFor;
      try {
        await session.api(`${spec.path}/${user.id}/password`, { method: "POST", body: JSON.stringify({ new_password: $("f-new_password").value }) });
        $("form-message").textContent = t("ticket.saved");
        await showForm(null);
      } catch (error) {
        $("form-message").textContent = explain(error);
      }
      return;
    }
    let body;
    try { body = readForm(); } catch (error) { $("form-message").textContent = error.message; return; }
    const item = state.editing;
    try {
      if (item) {
        if (item.version !== undefined) body.version = item.version;
        await session.api(`${spec.path}/${item.id}`, { method: "PATCH", body: JSON.stringify(body) });
      } else {
        await session.api(spec.path, { method: "POST", body: JSON.stringify(body) });
      }
      $("form-message").textContent = t("ticket.saved");
      state.references = {};
      await load();
      await showForm(null);
    } catch (error) {
      $("form-message").textContent = explain(error);
    }
  });
  $("new").addEventListener("click", () => edit(null));

  // A new password for a user (admins): its own small form in the form panel.
  function passwordForm(item) {
    state.editing = { passwordFor: item };
    $("form-title").textContent = `${t("admin.password")}: ${item.name}`;
    $("fields").replaceChildren(el("div", { class: "field" },
      el("label", { for: "f-new_password" }, `${t("admin.f.new_password")} *`),
      el("input", { id: "f-new_password", type: "password", autocomplete: "new-password", "aria-required": "true" })));
    $("form-message").textContent = "";
    $("f-new_password").focus();
  }

  async function lifecycle(item, action) {
    $("message").textContent = "";
    try {
      await session.api(`${spec.path}/${item.id}/${action}`, { method: "POST", body: "{}" });
      $("message").textContent = t(`admin.done.${action}`, { name: item.name || item.serial || item.id });
      await load();
    } catch (error) {
      $("message").textContent = explain(error);
    }
  }
  async function remove(item) {
    $("message").textContent = "";
    try {
      await session.api(`${spec.path}/${item.id}`, { method: "DELETE" });
      $("message").textContent = t("admin.done.delete", { name: item.name || item.id });
      await load();
    } catch (error) {
      $("message").textContent = explain(error);
    }
  }

  // ---- the small map: sites as markers, territories as shapes ---------------
  let map = null;
  let layer = null;
  function drawMap() {
    if (!spec.map || !window.L) return;
    $("map-wrap").hidden = false;
    if (!map) {
      map = L.map("small-map", { keyboard: true, attributionControl: false }).setView([20, 0], 2);
      layer = L.featureGroup().addTo(map);
    }
    layer.clearLayers();
    for (const item of state.items) {
      if (kind === "sites" && item.location) {
        // A drawn pin: Leaflet's default icon is an image the binary does not carry.
        const icon = L.divIcon({ className: "plain", iconSize: [16, 16], html: '<span class="site-pin"></span>' });
        L.marker([item.location.lat, item.location.lon], { title: item.name, keyboard: true, icon }).addTo(layer);
      } else if (kind === "territories" && item.boundary) {
        L.geoJSON(item.boundary).bindTooltip(item.name).addTo(layer);
      }
    }
    map.invalidateSize();
    if (layer.getLayers().length) map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 14, animate: false });
  }

  // ---- the tenant's settings -----------------------------------------------------
  async function tenantSettings() {
    $("kind-title").textContent = t("admin.kind.tenant");
    for (const id of ["list-section", "archived-field", "new"]) $(id).hidden = true;
    const tenant = await session.api("/v1/tenant");
    $("form-title").textContent = tenant.name;
    $("fields").replaceChildren(
      el("div", { class: "field" }, el("label", { for: "f-time_zone" }, label("time_zone")), el("input", { id: "f-time_zone", value: tenant.time_zone })),
      el("div", { class: "field" }, el("label", { for: "f-default_locale" }, t("admin.f.default_locale")),
        el("select", { id: "f-default_locale" }, i18n.SUPPORTED.map((c) => el("option", { value: c, selected: c === tenant.default_locale }, t(`lang.${c}`))))));
    $("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await session.api("/v1/tenant", { method: "PATCH", body: JSON.stringify({ time_zone: $("f-time_zone").value.trim(), default_locale: $("f-default_locale").value }) });
        $("form-message").textContent = t("ticket.saved");
      } catch (error) {
        $("form-message").textContent = explain(error);
      }
    });
    state.ready = true;
  }

  // ---- the retention policy (admins; `/v1/retention`): empty keeps the data ----
  async function retentionSettings() {
    $("kind-title").textContent = t("admin.kind.retention");
    document.title = `${t("admin.kind.retention")} · Truckroll`;
    for (const id of ["list-section", "archived-field", "new"]) $(id).hidden = true;
    $("form-title").textContent = t("retention.title");
    let policy;
    try {
      policy = await session.api("/v1/retention");
    } catch (error) {
      $("message").textContent = explain(error);
      $("form").hidden = true;
      state.ready = true;
      return;
    }
    const show = (stored) => { for (const [at] of RETENTION) $(`f-${at}`).value = stored[at] ?? ""; };
    $("fields").replaceChildren(
      el("p", { class: "hint" }, t("retention.hint")),
      ...RETENTION.map(([at, max]) => el("div", { class: "field" },
        el("label", { for: `f-${at}` }, t(`retention.f.${at}`)),
        el("input", { id: `f-${at}`, type: "number", min: "1", max: String(max), step: "1", inputmode: "numeric", "aria-describedby": `h-${at}` }),
        el("p", { class: "hint", id: `h-${at}` }, t(`retention.h.${at}`, { max: i18n.number(max) })))));
    show(policy);
    // A refusal names its field: that field is marked and focused.
    const refuse = (at, text) => {
      $("form-message").textContent = at ? `${t(`retention.f.${at}`)}: ${text}` : text;
      if (at && $(`f-${at}`)) { $(`f-${at}`).setAttribute("aria-invalid", "true"); $(`f-${at}`).focus(); }
    };
    $("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const [at] of RETENTION) $(`f-${at}`).removeAttribute("aria-invalid");
      $("form-message").textContent = "";
      const body = {};
      for (const [at, max] of RETENTION) {
        const node = $(`f-${at}`);
        const raw = node.value.trim();
        // A number input answers "" for text it cannot read: said, not dropped.
        if (raw === "" && node.validity.badInput) return refuse(at, t("retention.range", { max: i18n.number(max) }));
        const value = raw === "" ? null : Number(raw);
        if (value !== null && !(Number.isInteger(value) && value >= 1 && value <= max)) return refuse(at, t("retention.range", { max: i18n.number(max) }));
        body[at] = value;
      }
      try {
        show(await session.api("/v1/retention", { method: "PUT", body: JSON.stringify(body) }));
        $("form-message").textContent = t("retention.saved");
      } catch (error) {
        const field = error.problem?.errors?.[0]?.field;
        refuse(RETENTION.some(([at]) => at === field) ? field : null, explain(error));
      }
    });
    state.ready = true;
  }

  $("archived").addEventListener("change", () => { $("message").textContent = ""; load(); });
  $("archived-field").hidden = !spec.lifecycle;
  await showForm(null);
  await load();
  state.ready = true;
})();
