// The approvals inbox (issue 21): approval requests by state, by default
// the pending ones the signed-in user may decide, each with its ticket, the
// policy, the priced job and the reason; approve or reject with a comment
// (a rejection needs one). Every control is a native button, input or
// select, so the page works from the keyboard.
"use strict";
(async () => {
  const c = window.TruckrollConsole;
  const { $, el, t, i18n, session } = c;
  const model = (window.truckrollApprovals = { ready: false, requests: [] });

  function say(text) { $("message").textContent = text || ""; }

  function money(cents) {
    if (cents === null || cents === undefined) return t("common.none");
    return i18n.number(cents / 100, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  async function decide(request, decision, comment) {
    say("");
    try {
      await session.api(`/v1/approvals/${request.id}/decision`, {
        method: "POST", body: JSON.stringify({ decision, comment }),
      });
      $("done").textContent = t(decision === "approve" ? "appr.done.approved" : "appr.done.rejected", { number: request.ticket_number });
      await render();
      const next = document.querySelector("#rows input");
      if (next) next.focus(); else $("state").focus();
    } catch (error) {
      say(c.explain(error));
    }
  }

  function decisionCell(request, mayDecide) {
    if (request.state !== "pending") {
      return el("td", {},
        el("span", { class: `badge ${request.state}` }, t(`appr.state.${request.state}`)),
        request.decision_comment ? el("span", { class: "sla" }, request.decision_comment) : null,
        request.decided_at ? el("span", { class: "sla" }, i18n.dateTime(request.decided_at)) : null);
    }
    if (!mayDecide) return el("td", {}, el("span", { class: "badge pending" }, t("appr.state.pending")));
    const comment = el("input", { type: "text", maxlength: "2000", id: `comment-${request.id}`,
      "aria-label": t("appr.comment.for", { number: request.ticket_number }), placeholder: t("appr.comment") });
    return el("td", {}, el("div", { class: "decide" },
      comment,
      el("button", { type: "button", class: "primary", onclick: () => decide(request, "approve", comment.value) },
        t("appr.approve"), el("span", { class: "visually-hidden" }, ` ${request.ticket_number}`)),
      el("button", { type: "button", class: "danger", onclick: () => {
        if (!comment.value.trim()) { say(t("appr.reject.needs")); comment.focus(); return; }
        decide(request, "reject", comment.value);
      } }, t("appr.reject"), el("span", { class: "visually-hidden" }, ` ${request.ticket_number}`))));
  }

  async function render() {
    const state = $("state").value;
    const mine = $("mine").checked;
    model.requests = await session.api(`/v1/approvals?state=${state}&mine=${mine}`);
    const decidable = mine ? null : new Set((await session.api(`/v1/approvals?state=${state}&mine=true`)).map((r) => r.id));
    $("count").textContent = t("appr.count", { n: i18n.number(model.requests.length) });
    $("rows").replaceChildren(...(model.requests.length ? model.requests.map((r) => el("tr", { "data-id": r.id },
      el("td", {}, el("a", { href: `/ticket?id=${r.ticket_id}` }, r.ticket_number), el("span", { class: "sla" }, r.ticket_title)),
      el("td", {}, r.policy_name, r.pause_sla ? el("span", { class: "sla" }, t("appr.sla_paused")) : null),
      el("td", {}, money(r.value_cents)),
      el("td", {}, i18n.dateTime(r.requested_at)),
      el("td", {}, r.reason || t("common.none")),
      decisionCell(r, mine || decidable.has(r.id))))
      : [el("tr", {}, el("td", { colspan: 6, class: "hint" }, t("appr.none")))]));
  }

  try {
    await c.start("/approvals");
    $("state").addEventListener("change", () => render().catch((e) => say(c.explain(e))));
    $("mine").addEventListener("change", () => render().catch((e) => say(c.explain(e))));
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    await render();
    model.ready = true;
  } catch (error) {
    say(c.explain(error));
  }
})();
