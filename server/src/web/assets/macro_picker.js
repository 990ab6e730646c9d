// The ticket page's macro picker (issue 21): the macros the user may use
// (their own and their teams'), a preview of what one would change and the
// reply it would write for this ticket, and applying it in one step.
// Shown to admins and dispatchers (who may use macros).
"use strict";
(async () => {
  const { $, el, t, session, explain } = window.TruckrollConsole;
  const page = await new Promise((resolve) => {
    const wait = () => (window.truckrollTicket?.ready ? resolve(window.truckrollTicket) : setTimeout(wait, 50));
    wait();
  });
  const picker = (window.truckrollMacros = { ready: false, macros: [] });
  const id = new URLSearchParams(location.search).get("id");
  let macros;
  try { macros = await session.api("/v1/macros"); } catch { picker.ready = true; return; }
  picker.macros = macros;
  $("macros-card").hidden = false;
  if (!macros.length) {
    $("macro-pick").replaceChildren(el("option", { value: "" }, t("macro.none")));
    $("macro-pick").disabled = true;
    $("macro-preview").disabled = true;
    $("macro-apply").disabled = true;
    picker.ready = true;
    return;
  }
  $("macro-pick").replaceChildren(...macros.map((m) => el("option", { value: m.id },
    m.team_id ? t("macro.team", { name: m.name }) : t("macro.personal", { name: m.name }))));

  function show(outcome) {
    const lines = outcome.changes.length ? outcome.changes : [t("macro.no_changes")];
    $("macro-result").replaceChildren(
      el("p", {}, t(outcome.applied ? "macro.applied" : "macro.would", { name: outcome.name })),
      el("ul", {}, lines.map((line) => el("li", {}, line))),
      outcome.reply ? el("div", { class: "macro-reply" },
        el("strong", {}, t(outcome.reply.visibility === "public" ? "macro.reply.public" : "macro.reply.internal")),
        el("p", {}, outcome.reply.body)) : null);
  }

  async function run(kind) {
    const macroId = $("macro-pick").value;
    $("macro-result").replaceChildren(el("p", { class: "hint" }, t("common.loading")));
    try {
      const outcome = await session.api(`/v1/tickets/${id}/macros/${macroId}/${kind}`, { method: "POST", body: "{}" });
      show(outcome);
      if (kind === "apply") await page.refresh();
    } catch (error) {
      $("macro-result").replaceChildren(el("p", { class: "error" }, explain(error)));
    }
  }
  $("macro-preview").addEventListener("click", () => run("preview"));
  $("macro-apply").addEventListener("click", () => run("apply"));
  picker.ready = true;
})();
