// The knowledge base: the article list (and search), one article with its
// body as the server rendered it (Markdown without script), "this helped",
// versions with revert, and the editor for a new or changed article.
"use strict";
(async () => {
  const { $, el, t, i18n, session, start, explain, listAll } = window.TruckrollConsole;
  let me;
  try { me = await start("/knowledge", { technicianPage: true }); } catch { return; }
  const state = { articles: [], current: null, editing: null };
  window.truckrollKnowledge = state;
  const canWrite = me.role !== "technician";
  $("kb-new").hidden = !canWrite;
  $("kb-attach-form").hidden = !canWrite;
  $("kb-edit-button").hidden = !canWrite;

  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const params = () => new URLSearchParams(location.search);

  function showList(items) {
    const current = params().get("id");
    $("kb-articles").replaceChildren(...items.map((a) =>
      el("li", {}, el("a", { href: `/knowledge?id=${a.id}`, "aria-current": a.id === current ? "page" : undefined,
        onclick: (event) => { event.preventDefault(); open(a.id); } }, a.title),
      a.visibility === "public" ? el("span", { class: "kb-reason" }, t("kb.public")) : null)));
    if (items.length === 0) $("kb-articles").append(el("li", { class: "hint" }, t("kb.none")));
  }

  async function loadList() {
    const q = $("kb-search").value.trim();
    if (!q) {
      state.articles = await listAll("/v1/knowledge/articles");
      showList(state.articles);
      return;
    }
    const found = await session.api(`/v1/search?kind=article&q=${encodeURIComponent(q)}`);
    showList(found.results.map((r) => ({ id: r.id, title: r.title })));
  }

  async function open(id) {
    history.replaceState(null, "", `/knowledge?id=${id}`);
    $("message").textContent = "";
    try {
      const article = await session.api(`/v1/knowledge/articles/${id}`);
      state.current = article;
      $("kb-form").hidden = true;
      $("kb-view").hidden = false;
      $("kb-view-title").textContent = article.title;
      const meta = [article.category, t(`kb.${article.visibility}`), t("kb.version", { version: article.version }),
        i18n.dateTime(article.updated_at)];
      if (article.public_views) meta.push(t("kb.deflections", article.public_views));
      $("kb-view-meta").textContent = meta.filter(Boolean).join(" · ");
      // Rendered by the server without script (raw HTML shown as text,
      // unsafe link schemes removed): GET /v1/knowledge/articles/{id}.
      $("kb-body").innerHTML = article.body_html;
      showVotes(article.feedback);
      await showAttachments(id);
      const versions = await session.api(`/v1/knowledge/articles/${id}/versions`);
      $("kb-versions").replaceChildren(...versions.versions.slice().reverse().map((v) =>
        el("li", {}, el("span", {}, t("kb.version.line", { version: v.version, at: i18n.dateTime(v.edited_at) })),
          v.reverted_from ? el("span", { class: "kb-reason" }, t("kb.reverted", { version: v.reverted_from })) : null,
          canWrite && v.version !== article.version
            ? el("button", { type: "button", dataset: { version: v.version }, onclick: () => revert(v.version) }, t("kb.revert", { version: v.version }))
            : null)));
      showList(state.articles);
      state.ready = true;
    } catch (error) {
      $("message").textContent = explain(error);
    }
  }

  // Files of the article: a signed download link each (fs or S3).
  async function showAttachments(id) {
    const answer = await session.api(`/v1/knowledge/articles/${id}/attachments`);
    state.attachments = answer.attachments;
    $("kb-attachments").replaceChildren(...answer.attachments.map((a) => el("li", { dataset: { attachment: a.id } },
      el("a", { href: a.download.url, target: "_blank", rel: "noopener", download: a.name }, a.name),
      el("span", { class: "kb-reason" }, t("kb.attach.size", { kb: Math.max(1, Math.round(a.size / 1024)) })),
      canWrite ? el("button", { type: "button", class: "kb-detach", onclick: () => detach(a) }, t("kb.attach.remove", { name: a.name })) : null)));
    if (answer.attachments.length === 0) $("kb-attachments").append(el("li", { class: "hint" }, t("kb.attach.none")));
  }

  async function detach(attachment) {
    try {
      await session.api(`/v1/knowledge/articles/${state.current.id}/attachments/${attachment.id}`, { method: "DELETE" });
      await showAttachments(state.current.id);
    } catch (error) {
      $("kb-attach-message").textContent = explain(error);
    }
  }

  $("kb-attach").addEventListener("click", async () => {
    const file = $("kb-file").files[0];
    if (!file || !state.current) { $("kb-attach-message").textContent = t("kb.attach.pick"); return; }
    try {
      await session.api(`/v1/knowledge/articles/${state.current.id}/attachments?name=${encodeURIComponent(file.name)}`,
        { method: "POST", headers: { "content-type": file.type || "application/octet-stream" }, body: file });
      $("kb-file").value = "";
      $("kb-attach-message").textContent = t("kb.attach.done", { name: file.name });
      await showAttachments(state.current.id);
    } catch (error) {
      $("kb-attach-message").textContent = explain(error);
    }
  });

  function showVotes(feedback) {
    $("kb-votes").textContent = t("kb.votes", feedback);
  }

  async function vote(helpful) {
    const feedback = await session.api(`/v1/knowledge/articles/${state.current.id}/feedback`,
      { method: "POST", body: JSON.stringify({ helpful }) });
    showVotes(feedback);
  }

  async function revert(version) {
    try {
      await session.api(`/v1/knowledge/articles/${state.current.id}/revert`,
        { method: "POST", body: JSON.stringify({ to_version: version, version: state.current.version }) });
      await open(state.current.id);
    } catch (error) {
      $("message").textContent = explain(error);
    }
  }

  // `article` without an id is a draft (from a ticket): saved as new.
  function edit(article) {
    state.editing = article?.id ? article : null;
    $("kb-view").hidden = true;
    $("kb-form").hidden = false;
    $("kb-form-heading").textContent = state.editing ? t("kb.editing") : t("kb.new");
    $("kb-title").value = article?.title ?? "";
    $("kb-body-input").value = article?.body ?? "";
    $("kb-category").value = article?.category ?? "";
    $("kb-visibility").value = article?.visibility ?? "internal";
    $("kb-tags").value = (article?.tags ?? []).join(", ");
    $("kb-models").value = (article?.asset_models ?? []).join(", ");
    $("kb-categories").value = (article?.ticket_categories ?? []).join(", ");
    $("kb-form-message").textContent = "";
    $("kb-title").focus();
  }

  $("kb-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      title: $("kb-title").value,
      body: $("kb-body-input").value,
      category: $("kb-category").value,
      visibility: $("kb-visibility").value,
      tags: list($("kb-tags").value),
      asset_models: list($("kb-models").value),
      ticket_categories: list($("kb-categories").value),
    };
    try {
      const saved = state.editing
        ? await session.api(`/v1/knowledge/articles/${state.editing.id}`,
          { method: "PUT", body: JSON.stringify({ ...body, version: state.editing.version }) })
        : await session.api("/v1/knowledge/articles", { method: "POST", body: JSON.stringify(body) });
      await loadList();
      await open(saved.id);
    } catch (error) {
      $("kb-form-message").textContent = explain(error);
    }
  });
  $("kb-cancel").addEventListener("click", () => {
    $("kb-form").hidden = true;
    if (state.current) $("kb-view").hidden = false;
  });
  $("kb-new").addEventListener("click", () => edit(null));
  $("kb-edit-button").addEventListener("click", () => edit(state.current));
  $("kb-yes").addEventListener("click", () => vote(true));
  $("kb-no").addEventListener("click", () => vote(false));
  let timer = null;
  $("kb-search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => loadList().catch((error) => { $("message").textContent = explain(error); }), 250);
  });

  document.title = `${t("kb.title")} · Truckroll`;
  await loadList();
  const id = params().get("id");
  if (id) await open(id);
  else if (params().get("from_ticket") && canWrite) {
    // "Create article from this ticket": the server's prefilled draft.
    try {
      const draft = await session.api(`/v1/tickets/${encodeURIComponent(params().get("from_ticket"))}/article-draft`, { method: "POST", body: "{}" });
      edit({ title: draft.title, body: draft.body, category: draft.category, visibility: draft.visibility,
        tags: draft.tags, asset_models: draft.asset_models, ticket_categories: draft.ticket_categories });
      $("kb-form-message").textContent = t("kb.drafted", { number: draft.source_ticket_number });
      state.drafted = draft;
    } catch (error) {
      $("message").textContent = explain(error);
    }
  } else if (params().get("new") !== null && canWrite) edit(null);
  state.listed = true;
})();
