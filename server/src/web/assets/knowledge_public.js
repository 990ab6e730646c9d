// The public request form's help (issue 22): public articles suggested
// while the visitor describes the problem, readable in place. Opening one
// counts a view under a random key made for this visit; submitting the
// request afterwards tells the server, so only views that ended without a
// request count as deflections.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const tenant = decodeURIComponent(location.pathname.split("/")[2] || "");
  const TEXT = {
    en: { heading: "Maybe this helps", open: "Read", close: "Close" },
    "zh-CN": { heading: "这些文章也许能帮到您", open: "阅读", close: "关闭" },
  };
  const t = (key) => (TEXT[document.documentElement.lang] || TEXT.en)[key];
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const visitor = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const state = window.truckrollPublicHelp = { visitor, opened: [], suggestions: [] };

  const description = $("description");
  if (!description || !tenant) return;
  const panel = document.createElement("section");
  panel.id = "help";
  panel.hidden = true;
  panel.setAttribute("aria-live", "polite");
  const heading = document.createElement("h3");
  const list = document.createElement("ul");
  list.id = "help-list";
  const reader = document.createElement("article");
  reader.id = "help-article";
  reader.hidden = true;
  panel.append(heading, list, reader);
  description.insertAdjacentElement("afterend", panel);

  async function open(suggestion) {
    const response = await fetch(`/v1/public/${encodeURIComponent(tenant)}/knowledge/articles/${suggestion.article_id}?visitor=${visitor}`);
    if (!response.ok) return;
    const article = await response.json();
    state.opened.push(article.id);
    const title = document.createElement("h4");
    title.textContent = article.title;
    const body = document.createElement("div");
    // The server rendered it without script (raw HTML shown as text).
    body.innerHTML = article.body_html;
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = t("close");
    close.addEventListener("click", () => { reader.hidden = true; });
    reader.replaceChildren(title, body, close);
    reader.hidden = false;
  }

  async function suggest() {
    const body = { title: $("title").value, description: description.value, category: $("category")?.value || null };
    if (!body.title.trim() && !body.description.trim()) { panel.hidden = true; return; }
    const response = await fetch(`/v1/public/${encodeURIComponent(tenant)}/knowledge/suggest`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) return;
    const answer = await response.json();
    state.suggestions = answer.suggestions;
    heading.textContent = t("heading");
    list.replaceChildren(...answer.suggestions.map((s) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = s.title;
      button.dataset.article = s.article_id;
      button.addEventListener("click", () => open(s));
      item.append(button);
      return item;
    }));
    panel.hidden = answer.suggestions.length === 0;
  }

  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => suggest().catch(() => {}), 300); };
  $("title")?.addEventListener("input", later);
  description.addEventListener("input", later);

  // The request went in: the articles opened on this visit did not deflect it.
  const done = $("done");
  if (done) {
    new MutationObserver(() => {
      if (done.hidden || state.submitted || state.opened.length === 0) return;
      state.submitted = true;
      fetch(`/v1/public/${encodeURIComponent(tenant)}/knowledge/submitted`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ visitor }),
      }).catch(() => {});
    }).observe(done, { attributes: true, attributeFilter: ["hidden"] });
  }
})();
