// The parts and stock page (issue 23): the catalogue (search, add, CSV
// import with its line errors), balances by location (negative ones
// flagged), movements (receipt, transfer, adjustment, return) and new
// warehouses, replenishment suggestions, and the latest ledger lines.
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain } = window.TruckrollConsole;
  let me;
  try { me = await start("/parts"); } catch { return; }
  const canWrite = me.role === "admin" || me.role === "dispatcher";
  for (const node of document.querySelectorAll("details.write, #movement, #new-location")) node.hidden = !canWrite;
  document.title = `${t("parts.title")} · Truckroll`;

  const money = (cents) => i18n.number(cents / 100, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const quantity = (q) => i18n.number(q, { maximumFractionDigits: 3 });
  let parts = [];
  let locations = [];
  const partName = (id) => { const p = parts.find((x) => x.id === id); return p ? `${p.number} ${p.name}` : id; };
  const locationName = (id) => (id ? (locations.find((l) => l.id === id)?.name || id) : t("common.none"));

  function say(text) { $("notice").textContent = text; $("message").textContent = ""; }
  function fail(error) {
    $("notice").textContent = "";
    $("message").textContent = explain(error);
  }

  async function loadCatalogue() {
    const q = $("q").value.trim();
    const page = await session.api(`/v1/parts?limit=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
    if (!q) parts = page.items;
    $("catalogue-rows").replaceChildren(...(page.items.length ? page.items.map((p) => el("tr", { dataset: { partId: p.id } },
      el("td", {}, p.number), el("td", {}, p.name), el("td", {}, p.unit),
      el("td", { class: "num" }, money(p.price_cents)), el("td", { class: "num" }, money(p.cost_cents)),
      el("td", {}, p.barcode || t("common.none")), el("td", {}, p.serial_tracked ? t("parts.yes") : t("parts.no"))))
      : [el("tr", {}, el("td", { colspan: 7, class: "hint" }, t("parts.empty")))]));
    $("m-part").replaceChildren(...parts.map((p) => el("option", { value: p.id }, `${p.number} · ${p.name}`)));
  }

  async function loadLocations() {
    locations = await session.api("/v1/stock/locations");
    const options = (blank) => [el("option", { value: "" }, blank), ...locations.map((l) =>
      el("option", { value: l.id }, `${l.name} (${t(`parts.kind.${l.kind}`)})`))];
    const keep = $("b-location").value;
    $("b-location").replaceChildren(...options(t("parts.allLocations")));
    $("b-location").value = keep;
    $("m-from").replaceChildren(...options(t("common.none")));
    $("m-to").replaceChildren(...options(t("common.none")));
  }

  async function loadBalances() {
    const params = new URLSearchParams();
    if ($("b-location").value) params.set("location_id", $("b-location").value);
    if ($("b-negative").checked) params.set("negative", "true");
    const rows = await session.api(`/v1/stock/balances?${params}`);
    $("balance-rows").replaceChildren(...(rows.length ? rows.map((b) => el("tr", { class: b.negative ? "negative" : undefined },
      el("td", {}, b.location_name), el("td", {}, b.part_number), el("td", {}, b.part_name),
      el("td", { class: "num" }, `${quantity(b.quantity)} ${b.unit}${b.negative ? ` · ${t("parts.belowZero")}` : ""}`),
      el("td", { class: "num" }, b.reorder_min === null ? t("common.none") : quantity(b.reorder_min))))
      : [el("tr", {}, el("td", { colspan: 5, class: "hint" }, t("parts.noBalances")))]));
  }

  async function loadSuggestions() {
    const rows = await session.api("/v1/stock/suggestions");
    $("suggestion-rows").replaceChildren(...(rows.length ? rows.map((s) => el("tr", {},
      el("td", {}, s.location_name), el("td", {}, `${s.part_number} ${s.part_name}`),
      el("td", { class: "num" }, quantity(s.balance)), el("td", { class: "num" }, quantity(s.min)),
      el("td", { class: "num" }, quantity(s.suggested_quantity))))
      : [el("tr", {}, el("td", { colspan: 5, class: "hint" }, t("parts.noSuggestions")))]));
  }

  async function loadMovements() {
    const page = await session.api("/v1/stock/movements?limit=20");
    $("movement-rows").replaceChildren(...(page.items.length ? page.items.map((m) => el("tr", {},
      el("td", {}, i18n.dateTime(m.created_at)), el("td", {}, t(`parts.kind.${m.kind}`)), el("td", {}, partName(m.part_id)),
      el("td", {}, locationName(m.from_location_id)), el("td", {}, locationName(m.to_location_id)),
      el("td", { class: "num" }, quantity(m.quantity)), el("td", {}, m.reason || (m.ticket_id ? t("parts.fromTicket") : t("common.none")))))
      : [el("tr", {}, el("td", { colspan: 7, class: "hint" }, t("parts.noMovements")))]));
  }

  async function refreshStock() {
    await Promise.all([loadBalances(), loadSuggestions(), loadMovements()]);
  }

  // The movement form shows the fields its kind uses.
  function showFields() {
    const kind = $("m-kind").value;
    const uses = { transfer: ["m-from", "m-to"], receipt: ["m-to"], return: ["m-to"], adjustment: ["m-to"] }[kind];
    for (const id of ["m-from", "m-to"]) {
      const used = uses.includes(id);
      $(id).hidden = !used;
      document.querySelector(`label[for="${id}"]`).hidden = !used;
    }
    document.querySelector('label[for="m-to"]').textContent = kind === "adjustment" ? t("parts.location") : t("parts.to");
  }
  $("m-kind").addEventListener("change", showFields);

  $("search").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await loadCatalogue(); } catch (error) { fail(error); }
  });
  $("balance-filter").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await loadBalances(); } catch (error) { fail(error); }
  });

  $("new-part").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      number: $("p-number").value.trim(), name: $("p-name").value.trim(), unit: $("p-unit").value.trim() || "pcs",
      price_cents: Math.round(Number($("p-price").value) * 100), cost_cents: Math.round(Number($("p-cost").value || 0) * 100),
      barcode: $("p-barcode").value.trim() || null, serial_tracked: $("p-serial").checked,
    };
    try {
      await session.api("/v1/parts", { method: "POST", body: JSON.stringify(body) });
      event.target.reset();
      say(t("parts.saved"));
      await loadCatalogue();
    } catch (error) { fail(error); }
  });

  $("import").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("import-errors").replaceChildren();
    const file = $("csv-file").files[0];
    if (!file) { $("message").textContent = t("parts.import.pick"); return; }
    try {
      const outcome = await session.api("/v1/parts/import", { method: "POST", body: await file.text(), headers: { "content-type": "text/csv" } });
      say(t("parts.import.done", { created: outcome.created, updated: outcome.updated }));
      await loadCatalogue();
    } catch (error) {
      fail(error);
      const errors = error.problem?.errors || [];
      $("import-errors").replaceChildren(...errors.map((e) => el("li", {}, `${e.field}: ${e.message}`)));
    }
  });

  $("movement").addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = $("m-kind").value;
    const part_id = $("m-part").value;
    const amount = Number($("m-quantity").value);
    const reason = $("m-reason").value.trim() || null;
    const body = kind === "adjustment"
      ? { kind, part_id, location_id: $("m-to").value, delta: amount, reason: reason || "" }
      : kind === "transfer"
        ? { kind, part_id, from_location_id: $("m-from").value, to_location_id: $("m-to").value, quantity: amount, reason }
        : { kind, part_id, to_location_id: $("m-to").value, quantity: amount, reason };
    try {
      await session.api("/v1/stock/movements", { method: "POST", body: JSON.stringify(body) });
      say(t("parts.recorded"));
      $("m-quantity").value = "";
      $("m-reason").value = "";
      await refreshStock();
    } catch (error) { fail(error); }
  });

  $("new-location").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await session.api("/v1/stock/locations", { method: "POST", body: JSON.stringify({ name: $("l-name").value.trim() }) });
      event.target.reset();
      say(t("parts.saved"));
      await loadLocations();
    } catch (error) { fail(error); }
  });

  try {
    await Promise.all([loadCatalogue(), loadLocations()]);
    showFields();
    await refreshStock();
  } catch (error) { fail(error); }
  window.truckrollParts = { ready: true };
})();
