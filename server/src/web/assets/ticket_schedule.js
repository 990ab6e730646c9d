// The ticket page's appointment card (issue 20): the window booked now,
// the offered slots (GET /v1/tickets/{id}/slots) each with its reason, a
// button to book one (POST …/slots/book; booking another moves the window)
// and one to cancel the window (DELETE …/window). Office roles only: the
// card stays hidden when the slots are refused.
"use strict";
(async () => {
  const { $, el, t, i18n, session, explain } = window.TruckrollConsole;
  const id = new URLSearchParams(location.search).get("id");
  const card = $("schedule-card");
  if (!id || !card) return;
  // The ticket page signs in and sets the language first.
  for (let i = 0; i < 600 && !window.truckrollTicket?.ticket; i += 1) await new Promise((done) => setTimeout(done, 50));
  if (!window.truckrollTicket?.ticket) return;
  const view = { window: null, slots: [], ready: false };
  window.truckrollSchedule = view;

  const clock = (ms) => new Intl.DateTimeFormat(i18n.locale(), { timeZone: i18n.timeZone(), hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
  const day = (ms) => new Intl.DateTimeFormat(i18n.locale(), { timeZone: i18n.timeZone(), weekday: "short", month: "short", day: "numeric" }).format(new Date(ms));
  const windowText = (w) => `${day(Date.parse(w.starts_at))} ${clock(Date.parse(w.starts_at))}–${clock(Date.parse(w.ends_at))}`;

  async function load() {
    let slots;
    try {
      slots = await session.api(`/v1/tickets/${id}/slots?days=7&limit=8`);
    } catch (error) {
      if (error.status === 403) { card.hidden = true; return; }
      slots = { slots: [] };
      $("schedule-message").textContent = explain(error);
    }
    card.hidden = false;
    view.window = await session.api(`/v1/tickets/${id}/window`).catch(() => null);
    view.slots = slots.slots;
    const who = view.window?.technician_id
      ? (await session.api(`/v1/technicians/${view.window.technician_id}`).catch(() => null))?.name
      : null;
    $("schedule-window").textContent = view.window
      ? t(who ? "sched.window.with" : "sched.window", { window: windowText(view.window), minutes: view.window.duration_minutes, name: who || "" })
      : t("sched.window.none");
    $("schedule-cancel").hidden = !view.window;
    $("schedule-slots").replaceChildren(...(view.slots.length
      ? view.slots.map((slot) => {
        const text = windowText(slot);
        return el("li", { dataset: { technicianId: slot.technician_id } },
          el("strong", {}, text), " · ", slot.technician_name,
          el("div", { class: "why" }, slot.reason),
          el("button", { type: "button", "aria-label": t("sched.book.label", { window: text, name: slot.technician_name }),
            onclick: () => book(slot, text) }, view.window ? t("sched.move") : t("sched.book")));
      })
      : [el("li", { class: "hint" }, t("sched.slots.none"))]));
    view.ready = true;
  }

  async function book(slot, text) {
    $("schedule-message").textContent = t("common.loading");
    try {
      await session.api(`/v1/tickets/${id}/slots/book`, { method: "POST",
        body: JSON.stringify({ starts_at: slot.starts_at, ends_at: slot.ends_at, technician_id: slot.technician_id }) });
      $("schedule-message").textContent = t("sched.booked", { window: text, name: slot.technician_name });
      window.truckrollTicket.refresh?.();
    } catch (error) {
      $("schedule-message").textContent = explain(error);
    }
    await load();
  }

  $("schedule-cancel").addEventListener("click", async () => {
    try {
      await session.api(`/v1/tickets/${id}/window`, { method: "DELETE" });
      $("schedule-message").textContent = t("sched.cancelled");
      window.truckrollTicket.refresh?.();
    } catch (error) {
      $("schedule-message").textContent = explain(error);
    }
    await load();
  });

  await load();
})();
