// The automation page: the signed-in user's notifications (everyone), the
// teams and the tenant's trigger rules with an editor whose saves show the
// schema's and the server's refusals field by field, and a dry run of the
// draft (or every saved rule) on a ticket, which writes nothing (admins).
"use strict";
(async () => {
  const c = window.TruckrollConsole;
  const { $, el, t, i18n, session } = c;
  const model = (window.truckrollAutomation = { ready: false, rules: [], editing: null });

  const EXAMPLE = (teamId, userId) => ({
    events: ["ticket_created"],
    conditions: { all: [
      { field: "priority", op: "eq", value: "P1" },
      { field: "customer.tier", op: "in", value: ["gold", "platinum"] },
    ] },
    actions: [
      { type: "set_team", team_id: teamId || "00000000-0000-0000-0000-000000000000" },
      { type: "notify", user_ids: [userId], title: "P1 {{ticket.number}} from a {{customer.tier}} customer" },
    ],
    stop: false,
  });

  function say(text) { $("message").textContent = text || ""; }

  async function renderNotifications() {
    const items = await session.api("/v1/me/notifications?limit=50");
    const unread = items.filter((n) => !n.read_at).length;
    $("unread").textContent = t("auto.unread", { n: i18n.number(unread) });
    $("notifications").replaceChildren(...(items.length ? items.map((n) => el("li", { class: n.read_at ? "read" : "unread" },
      el("time", { datetime: n.created_at }, i18n.dateTime(n.created_at)),
      el("strong", {}, n.title),
      n.body ? el("span", {}, n.body) : null,
      n.ticket_id ? el("a", { href: `/ticket?id=${n.ticket_id}` }, t("auto.open_ticket")) : null,
      n.read_at ? null : el("button", { type: "button", onclick: async () => {
        await session.api(`/v1/me/notifications/${n.id}/read`, { method: "POST", body: "{}" });
        await renderNotifications();
      } }, t("auto.mark_read"))))
      : [el("li", { class: "hint" }, t("auto.notifications.none"))]));
  }

  async function renderTeams() {
    model.teams = await session.api("/v1/teams");
    $("team-rows").replaceChildren(...model.teams.map((team) => el("tr", {},
      el("td", {}, team.name),
      el("td", {}, t(`auto.assignment.${team.assignment}`)),
      el("td", {}, i18n.number(team.members.length)),
      el("td", {}, el("code", { class: "id" }, team.id)))));
  }

  async function renderRules() {
    model.rules = await session.api("/v1/rules");
    $("rule-rows").replaceChildren(...(model.rules.length ? model.rules.map((rule) => el("tr", {},
      el("td", {}, i18n.number(rule.position)),
      el("td", {}, rule.name),
      el("td", {}, rule.definition.events.map((e) => t(`auto.event.${e}`)).join(", ")),
      el("td", {}, rule.active ? t("auto.yes") : t("auto.no")),
      el("td", {}, el("button", { type: "button", onclick: () => edit(rule) }, t("auto.edit", { name: rule.name })))))
      : [el("tr", {}, el("td", { colspan: 5, class: "hint" }, t("auto.rules.none")))]));
  }

  function edit(rule) {
    model.editing = rule ? rule.id : null;
    $("rule-name").value = rule ? rule.name : "";
    $("rule-position").value = rule ? rule.position : "";
    $("rule-active").checked = rule ? rule.active : true;
    $("rule-definition").value = rule ? JSON.stringify(rule.definition, null, 2) : "";
    $("delete-rule").hidden = !rule;
    $("errors").replaceChildren();
    $("saved").textContent = "";
    $("rule-name").focus();
  }

  function showErrors(list) {
    $("errors").replaceChildren(...list.map(({ field, message }) => el("li", {}, field ? `${field}: ${message}` : message)));
  }

  function definition() {
    try {
      return JSON.parse($("rule-definition").value);
    } catch (error) {
      showErrors([{ field: "definition", message: t("auto.bad_json", { detail: error.message }) }]);
      return null;
    }
  }

  async function save(event) {
    event.preventDefault();
    $("saved").textContent = "";
    const parsed = definition();
    if (parsed === null) return;
    const position = $("rule-position").value.trim();
    const body = { name: $("rule-name").value, active: $("rule-active").checked, definition: parsed,
      position: position === "" ? null : Number(position) };
    try {
      const saved = model.editing
        ? await session.api(`/v1/rules/${model.editing}`, { method: "PUT", body: JSON.stringify(body) })
        : await session.api("/v1/rules", { method: "POST", body: JSON.stringify(body) });
      showErrors([]);
      await renderRules();
      edit(saved);
      $("saved").textContent = t("auto.saved", { name: saved.name });
    } catch (error) {
      const fields = error.problem && Array.isArray(error.problem.errors) ? error.problem.errors : [];
      showErrors(fields.length ? fields : [{ field: "", message: c.explain(error) }]);
    }
  }

  async function ticketByNumber(text) {
    const wanted = text.trim().toUpperCase();
    const page = await session.api(`/v1/tickets?q=${encodeURIComponent(wanted)}&limit=20`);
    return page.items.find((ticket) => ticket.number === wanted) || null;
  }

  async function dryRun(event) {
    event.preventDefault();
    const out = $("dry-result");
    out.replaceChildren(el("p", { class: "hint" }, t("common.loading")));
    const ticket = await ticketByNumber($("dry-ticket").value);
    if (!ticket) { out.replaceChildren(el("p", { class: "error" }, t("auto.dry.no_ticket"))); return; }
    const body = { ticket_id: ticket.id, events: [$("dry-event").value] };
    if ($("dry-draft").checked) {
      const parsed = definition();
      if (parsed === null) { out.replaceChildren(); return; }
      body.definition = parsed;
    }
    try {
      const run = await session.api("/v1/rules/dry-run", { method: "POST", body: JSON.stringify(body) });
      out.replaceChildren(
        el("p", {}, run.firings.length ? t("auto.dry.fires", { n: i18n.number(run.firings.length), number: ticket.number }) : t("auto.dry.none", { number: ticket.number })),
        el("ul", {}, run.firings.map((f) => el("li", { class: "firing" }, el("strong", {}, f.rule_name), ": ", f.changes.join("; ")))),
        el("p", { class: "hint" }, t("auto.dry.after", { priority: run.ticket.priority, tags: run.ticket.tags.join(", ") || t("common.none") })));
    } catch (error) {
      const fields = error.problem && Array.isArray(error.problem.errors) ? error.problem.errors : [];
      showErrors(fields);
      out.replaceChildren(el("p", { class: "error" }, c.explain(error)));
    }
  }

  try {
    const me = await c.start("/automation");
    await renderNotifications();
    if (me.role === "admin") {
      for (const id of ["teams-card", "rules-card", "editor-card"]) $(id).hidden = false;
      await Promise.all([renderTeams(), renderRules()]);
      $("editor").addEventListener("submit", save);
      $("dry-run").addEventListener("submit", dryRun);
      $("new-rule").addEventListener("click", () => edit(null));
      $("example").addEventListener("click", () => {
        $("rule-definition").value = JSON.stringify(EXAMPLE(model.teams[0]?.id, me.id), null, 2);
      });
      $("delete-rule").addEventListener("click", async () => {
        if (!model.editing) return;
        await session.api(`/v1/rules/${model.editing}`, { method: "DELETE" });
        edit(null);
        await renderRules();
      });
    }
    model.ready = true;
  } catch (error) {
    say(c.explain(error));
  }
})();
