// Knowledge-base articles beside a ticket (issue 22): on the create form,
// suggestions for the ticket being written (title, description, category,
// asset; refreshed as the dispatcher types); on the ticket page, the
// related articles, each with a button that puts its link into the reply.
"use strict";
(() => {
  const { $, el, t, session } = window.TruckrollConsole;
  const panel = window.truckrollKnowledgePanel = { suggestions: [], requests: 0 };

  function show(list, suggestions, { insert, insertText } = {}) {
    panel.suggestions = suggestions;
    list.replaceChildren(...suggestions.map((s) => el("li", { dataset: { article: s.article_id } },
      el("a", { href: `/knowledge?id=${s.article_id}`, target: "_blank", rel: "noopener" }, s.title),
      s.reasons.map((r) => el("span", { class: "kb-reason" }, t(`kb.reason.${r}`))),
      insert ? el("button", { type: "button", class: "kb-insert", onclick: () => insert(s) }, t("kb.insert")) : null,
      insertText ? el("button", { type: "button", class: "kb-insert-text", onclick: () => insertText(s) }, t("kb.insert_text")) : null)));
    if (suggestions.length === 0) list.append(el("li", { class: "hint" }, t("kb.none")));
  }

  // Likely duplicates of the ticket being created (same customer, site or
  // asset, similar words), with their score and reasons.
  async function duplicates(draft) {
    const list = $("duplicate-list");
    if (!list) return;
    const site = $("site").value;
    if (!site || !(draft.title.trim() || draft.description.trim())) {
      panel.duplicates = [];
      list.replaceChildren(el("li", { class: "hint" }, t("dup.none")));
      return;
    }
    const answer = await session.api("/v1/tickets/duplicates", { method: "POST",
      body: JSON.stringify({ site_id: site, asset_id: draft.asset_id, title: draft.title, description: draft.description }) });
    panel.duplicates = answer.candidates;
    list.replaceChildren(...answer.candidates.map((c) => el("li", { dataset: { ticket: c.ticket_id } },
      el("a", { href: `/ticket?id=${c.ticket_id}`, target: "_blank", rel: "noopener" }, `${c.number} ${c.title}`),
      el("span", { class: "kb-reason" }, t("dup.score", { score: Math.round(c.score * 100) })),
      c.reasons.map((r) => el("span", { class: "kb-reason" }, t(`dup.reason.${r}`))))));
    if (answer.candidates.length === 0) list.append(el("li", { class: "hint" }, t("dup.none")));
  }

  // The create form: suggest while typing, at most one request at a time.
  if ($("create") && $("kb-suggestions")) {
    let timer = null;
    let running = false;
    let again = false;
    const ask = async () => {
      if (running) { again = true; return; }
      running = true;
      try {
        const body = {
          title: $("title").value,
          description: $("description").value,
          category: $("category").value || null,
          asset_id: $("asset").value || null,
        };
        if (!body.title.trim() && !body.description.trim() && !body.category && !body.asset_id) {
          show($("kb-suggestion-list"), []);
        } else {
          const answer = await session.api("/v1/knowledge/suggest", { method: "POST", body: JSON.stringify(body) });
          show($("kb-suggestion-list"), answer.suggestions);
        }
        await duplicates(body);
        panel.requests += 1;
      } catch (error) {
        $("kb-suggestion-list").replaceChildren(el("li", { class: "error" }, error.message));
      } finally {
        running = false;
        if (again) { again = false; ask(); }
      }
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(ask, 300); };
    for (const id of ["title", "description"]) $(id).addEventListener("input", later);
    for (const id of ["category", "asset", "site"]) $(id).addEventListener("change", later);
  }

  // The ticket page: related articles; "insert link" into the comment.
  if ($("kb-related")) {
    const id = new URLSearchParams(location.search).get("id");
    const put = (text) => {
      const box = $("comment-body");
      box.value = box.value ? `${box.value.trimEnd()}\n${text}` : text;
      box.focus();
    };
    const insert = (s) => put(`${s.title}: ${location.origin}/knowledge?id=${s.article_id}`);
    // The article's text (its Markdown as written) into the reply.
    const insertText = async (s) => {
      try {
        const article = await session.api(`/v1/knowledge/articles/${s.article_id}`);
        put(article.body);
        panel.inserted = article.id;
      } catch (error) {
        $("comment-message").textContent = window.TruckrollConsole.explain(error);
      }
    };
    const actions = { insert, insertText };
    if (id) $("kb-from-ticket").href = `/knowledge?from_ticket=${encodeURIComponent(id)}`;
    // Any article for the reply: its words as a draft's title.
    let findTimer = null;
    $("kb-find").addEventListener("input", () => {
      clearTimeout(findTimer);
      findTimer = setTimeout(async () => {
        const q = $("kb-find").value.trim();
        if (!q) { $("kb-find-list").replaceChildren(); return; }
        try {
          const answer = await session.api("/v1/knowledge/suggest", { method: "POST", body: JSON.stringify({ title: q }) });
          show($("kb-find-list"), answer.suggestions, actions);
          panel.found = answer.suggestions;
        } catch (error) {
          $("kb-find-list").replaceChildren(el("li", { class: "error" }, error.message));
        }
      }, 250);
    });
    const load = async () => {
      try {
        const answer = await session.api(`/v1/tickets/${id}/articles`);
        show($("kb-related-list"), answer.suggestions, actions);
        panel.requests += 1;
      } catch (error) {
        $("kb-related-list").replaceChildren(el("li", { class: "error" }, error.message));
      }
    };
    if (id) load();

    // Likely duplicates of this ticket; merging this one into another
    // cancels it as "duplicate of …" and moves its comments there.
    const merge = async (c) => {
      try {
        const record = await session.api(`/v1/tickets/${id}/merge`, { method: "POST", body: JSON.stringify({ into: c.ticket_id }) });
        $("merge-message").textContent = t("dup.merged", { number: record.target_number });
        panel.merged = record;
        setTimeout(() => location.reload(), 800);
      } catch (error) {
        $("merge-message").textContent = window.TruckrollConsole.explain(error);
      }
    };
    const duplicatesOfTicket = async () => {
      try {
        const answer = await session.api(`/v1/tickets/${id}/duplicates`);
        panel.ticketDuplicates = answer.candidates;
        const list = $("ticket-duplicate-list");
        list.replaceChildren(...answer.candidates.map((c) => el("li", { dataset: { ticket: c.ticket_id } },
          el("a", { href: `/ticket?id=${c.ticket_id}` }, `${c.number} ${c.title}`),
          el("span", { class: "kb-reason" }, t("dup.score", { score: Math.round(c.score * 100) })),
          c.reasons.map((r) => el("span", { class: "kb-reason" }, t(`dup.reason.${r}`))),
          el("button", { type: "button", class: "merge", onclick: () => merge(c) }, t("dup.merge", { number: c.number })))));
        if (answer.candidates.length === 0) list.append(el("li", { class: "hint" }, t("dup.none")));
        panel.duplicatesReady = true;
      } catch (error) {
        $("ticket-duplicate-list").replaceChildren(el("li", { class: "error" }, error.message));
      }
    };
    if (id && $("ticket-duplicate-list")) duplicatesOfTicket();

    // Sub-tickets: the children's progress, and a job split off as a new
    // ticket at the same site linked as a child.
    const family = async () => {
      try {
        const f = await session.api(`/v1/tickets/${id}/children`);
        panel.family = f;
        $("subticket-parent").replaceChildren(...(f.parent
          ? [t("sub.parent") + " ", el("a", { href: `/ticket?id=${f.parent.id}` }, `${f.parent.number} ${f.parent.title}`)]
          : []));
        $("subticket-progress").textContent = f.progress.total ? t("sub.progress", f.progress) : "";
        $("subticket-list").replaceChildren(...f.children.map((c) => el("li", { dataset: { ticket: c.id } },
          el("a", { href: `/ticket?id=${c.id}` }, `${c.number} ${c.title}`),
          el("span", { class: "kb-reason" }, t(`status.${c.status}`)))));
        $("split-form").hidden = Boolean(f.parent);
      } catch (error) {
        $("subticket-list").replaceChildren(el("li", { class: "error" }, error.message));
      }
    };
    if (id && $("subticket-list")) {
      family();
      $("split-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        const title = $("split-title").value.trim();
        if (!title) { $("split-message").textContent = t("form.required", { field: t("sub.split.title") }); return; }
        try {
          const parent = await session.api(`/v1/tickets/${id}`);
          const child = await session.api("/v1/tickets", { method: "POST", body: JSON.stringify({
            title, category: parent.category, priority: parent.priority, site_id: parent.site_id,
            asset_id: parent.asset_id, description: parent.description }) });
          await session.api(`/v1/tickets/${id}/children`, { method: "POST", body: JSON.stringify({ ticket_id: child.id }) });
          $("split-title").value = "";
          $("split-message").textContent = t("sub.split.done", { number: child.number });
          await family();
        } catch (error) {
          $("split-message").textContent = window.TruckrollConsole.explain(error);
        }
      });
    }
  }
})();
