// The ticket page's watch card (issue 21): watch or stop watching the
// ticket, how many watch it, and the signed-in user's notifications about
// this ticket (mentions, watched changes, rules), each markable read.
"use strict";
(async () => {
  const { $, el, t, i18n, session } = window.TruckrollConsole;
  const id = new URLSearchParams(location.search).get("id");
  const card = $("watch-card");
  if (!id || !card) return;
  const toggle = $("watch-toggle");
  // The ticket page signs in and sets the language (console.js `start`);
  // the card's texts wait for it, so they are in the user's language.
  for (let i = 0; i < 600 && !window.truckrollTicket?.ticket; i += 1) await new Promise((done) => setTimeout(done, 50));
  if (!window.truckrollTicket?.ticket) return;

  function render(watchers) {
    toggle.setAttribute("aria-pressed", watchers.watching ? "true" : "false");
    toggle.textContent = t(watchers.watching ? "watch.stop" : "watch.start");
    $("watch-count").textContent = t("watch.count", { n: watchers.watchers.length });
  }

  async function loadNotifications() {
    const items = (await session.api("/v1/me/notifications?limit=200").catch(() => []))
      .filter((n) => n.ticket_id === id);
    $("watch-notifications").replaceChildren(...(items.length
      ? items.map((n) => el("li", { class: n.read_at ? "read" : "unread" },
        el("strong", {}, n.title), " ",
        el("span", { class: "hint" }, `${t(`watch.source.${n.source}`)} · ${i18n.dateTime(n.created_at)}`),
        n.body ? el("p", {}, n.body) : "",
        n.read_at ? "" : el("button", { type: "button", class: "link", onclick: async () => {
          await session.api(`/v1/me/notifications/${n.id}/read`, { method: "POST", body: "{}" });
          await loadNotifications();
        } }, t("auto.mark_read"))))
      : [el("li", { class: "hint" }, t("auto.notifications.none"))]));
  }

  toggle.addEventListener("click", async () => {
    const watching = toggle.getAttribute("aria-pressed") === "true";
    try {
      render(await session.api(`/v1/tickets/${id}/watch`, { method: watching ? "DELETE" : "PUT" }));
      $("watch-message").textContent = t(watching ? "watch.stopped" : "watch.started");
    } catch (error) {
      $("watch-message").textContent = t("common.error", { detail: error.message || String(error) });
    }
  });

  try {
    render(await session.api(`/v1/tickets/${id}/watchers`));
    card.hidden = false;
  } catch {
    return;
  }
  await loadNotifications();
  setInterval(loadNotifications, 15000);
})();
