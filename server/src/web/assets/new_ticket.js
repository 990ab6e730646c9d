// Create a ticket: a template to start from, customer search, the
// customer's sites and the site's assets, the category's custom-field form.
"use strict";
(async () => {
  const { $, el, t, session, start, explain, listAll, customFieldsForm } = window.TruckrollConsole;
  try { await start("/tickets/new"); } catch { return; }
  const state = { customers: [], sites: [], assets: [], categories: [], templates: [], customForm: null };
  window.truckrollNewTicket = state;

  for (const p of ["P1", "P2", "P3", "P4"]) $("priority").append(el("option", { value: p, selected: p === "P3" }, t(`priority.${p}`)));
  [state.customers, state.sites, state.assets, state.categories, state.templates] = await Promise.all([
    listAll("/v1/customers", 5000).catch(() => []),
    listAll("/v1/sites", 5000).catch(() => []),
    listAll("/v1/assets", 5000).catch(() => []),
    listAll("/v1/categories").catch(() => []),
    session.api("/v1/ticket-templates").catch(() => []),
  ]);

  $("template").replaceChildren(el("option", { value: "" }, t("new.template.none")),
    ...state.templates.map((x) => el("option", { value: x.id }, x.name)));
  $("category").replaceChildren(el("option", { value: "" }, t("new.category.choose")),
    ...state.categories.map((c) => el("option", { value: c.name }, c.name)));

  function showCustomers() {
    const words = $("customer-search").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const matches = state.customers.filter((c) => {
      const text = [c.name, c.email, c.phone, c.contact_person].filter(Boolean).join(" ").toLowerCase();
      return words.every((w) => text.includes(w));
    });
    const current = $("customer").value;
    $("customer").replaceChildren(...matches.slice(0, 200).map((c) => el("option", { value: c.id, selected: c.id === current }, c.name)));
    $("customer-matches").textContent = t("new.matches", { count: matches.length });
    showSites();
  }
  function showSites() {
    const customer = $("customer").value;
    const sites = state.sites.filter((s) => s.customer_id === customer);
    $("site").replaceChildren(...(customer ? sites.map((s) => el("option", { value: s.id }, `${s.name} · ${s.address}`)) : [el("option", { value: "" }, t("new.site.choose"))]));
    showAssets();
  }
  function showAssets() {
    const site = $("site").value;
    $("asset").replaceChildren(el("option", { value: "" }, t("new.asset.none")),
      ...state.assets.filter((a) => a.site_id === site).map((a) => el("option", { value: a.id }, `${a.serial} · ${a.model}`)));
  }
  function showCustomFields(values = {}) {
    const category = state.categories.find((c) => c.name === $("category").value);
    state.customForm = customFieldsForm(category?.custom_fields_schema, values, "new-cf");
    $("custom-fields").replaceChildren(state.customForm.node);
  }
  $("customer-search").addEventListener("input", showCustomers);
  $("customer").addEventListener("change", showSites);
  $("site").addEventListener("change", showAssets);
  $("category").addEventListener("change", () => showCustomFields());
  $("template").addEventListener("change", () => {
    const template = state.templates.find((x) => x.id === $("template").value);
    if (!template) return;
    const f = template.fields;
    if (f.title !== undefined) $("title").value = f.title;
    if (f.description !== undefined) $("description").value = f.description;
    if (f.priority) $("priority").value = f.priority;
    if (f.tags) $("tags").value = f.tags.join(", ");
    if (f.category) $("category").value = f.category;
    showCustomFields(f.custom_fields || {});
  });
  showCustomers();
  showCustomFields();

  $("create").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("message").textContent = "";
    const missing = [["site", "new.site"], ["category", "new.category"], ["title", "ticket.field.title"]]
      .filter(([field]) => !$(field).value.trim())
      .map(([field, key]) => ({ field, text: t("form.required", { field: t(key) }) }));
    let customFields;
    try { customFields = state.customForm.read(); } catch (error) { missing.push({ field: null, text: error.message }); }
    if (missing.length) {
      $("message").textContent = missing.map((m) => m.text).join(" ");
      if (missing[0].field) $(missing[0].field).focus();
      return;
    }
    const template = state.templates.find((x) => x.id === $("template").value);
    const body = {
      title: $("title").value.trim(),
      description: $("description").value,
      category: $("category").value,
      priority: $("priority").value,
      site_id: $("site").value,
      asset_id: $("asset").value || null,
      tags: $("tags").value.split(",").map((s) => s.trim()).filter(Boolean),
      custom_fields: customFields,
      required_skills: template?.fields?.required_skills || [],
    };
    try {
      const ticket = await session.api("/v1/tickets", { method: "POST", body: JSON.stringify(body) });
      location.assign(`/ticket?id=${ticket.id}`);
    } catch (error) {
      $("message").textContent = explain(error);
    }
  });
  document.title = `${t("new.title")} · Truckroll`;
  state.ready = true;
})();
