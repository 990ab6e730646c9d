// The public request form: categories and their custom fields from
// GET /v1/public/{tenant}/form, sent as multipart to
// POST /v1/public/{tenant}/requests; English or Simplified Chinese.
"use strict";
(() => {
  const TEXT = {
    en: {
      brand: "Truckroll", heading: "Report a problem",
      intro: "Tell us what is wrong and where. We answer with a ticket number you can follow.",
      category: "Kind of problem", details: "Details", title: "Short summary", description: "What happened?",
      name: "Your name", email: "Email", phone: "Phone (optional)", address: "Address or site",
      photos: "Photos (optional)", send: "Send request", sending: "Sending…",
      thanks: "Thank you — we have your request.", number: "Your ticket number:", follow: "Follow your ticket",
      required: "Please fill this in.", badEmail: "Please enter a valid email address.",
      unavailable: "This request form is not available.", failed: "The request could not be sent:",
      tooMany: "Too many requests from this address. Please try again later.",
      tooLarge: "The photos are too large. Please send fewer or smaller photos.",
      network: "The server cannot be reached. Please try again.", switchTo: "中文", yes: "Yes",
    },
    zh: {
      brand: "Truckroll", heading: "报修",
      intro: "请告诉我们出了什么问题以及地点。我们会回复一个工单号，您可以随时查看进度。",
      category: "问题类型", details: "详细信息", title: "简要说明", description: "发生了什么？",
      name: "您的姓名", email: "电子邮箱", phone: "电话（可选）", address: "地址或站点",
      photos: "照片（可选）", send: "提交", sending: "正在提交…",
      thanks: "谢谢，我们已收到您的请求。", number: "您的工单号：", follow: "查看工单进度",
      required: "请填写此项。", badEmail: "请输入有效的电子邮箱地址。",
      unavailable: "此报修表单不可用。", failed: "请求未能提交：",
      tooMany: "来自此地址的请求过多，请稍后再试。",
      tooLarge: "照片太大，请减少数量或缩小尺寸。",
      network: "无法连接服务器，请重试。", switchTo: "English", yes: "是",
    },
  };
  const params = new URLSearchParams(location.search);
  let lang = params.get("lang") || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
  if (!TEXT[lang]) lang = "en";
  const t = (key) => TEXT[lang][key] || TEXT.en[key] || key;
  const tenant = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  const $ = (id) => document.getElementById(id);
  const form = $("request");
  let categories = [];

  function translate() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = `${t("heading")} · Truckroll`;
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    const toggle = $("lang");
    toggle.textContent = t("switchTo");
    toggle.lang = lang === "zh" ? "en" : "zh-CN";
    renderCustom();
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    translate();
  });

  /** Inputs for the chosen category's JSON Schema (flat object of scalars). */
  function renderCustom() {
    const box = $("custom-fields");
    const previous = collectCustom(false);
    box.replaceChildren();
    const category = categories.find((c) => c.name === $("category").value);
    $("category-help").textContent = category?.description || "";
    const schema = category?.custom_fields_schema || {};
    const properties = schema.properties || {};
    const required = new Set(schema.required || []);
    // Required fields first, in the schema's order; then the others.
    const names = [...new Set([...(schema.required || []), ...Object.keys(properties)])].filter(
      (n) => properties[n] !== undefined,
    );
    $("custom").hidden = names.length === 0;
    for (const name of names) {
      const spec = properties[name] || {};
      const id = `cf-${name}`;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = (spec[`title_${lang}`] || spec.title || name) + (required.has(name) ? " *" : "");
      let input;
      if (Array.isArray(spec.enum)) {
        input = document.createElement("select");
        if (!required.has(name)) input.append(new Option("", ""));
        for (const value of spec.enum) input.append(new Option(String(value), String(value)));
      } else if (spec.type === "boolean") {
        input = document.createElement("input");
        input.type = "checkbox";
      } else {
        input = document.createElement("input");
        input.type = spec.type === "integer" || spec.type === "number" ? "number" : "text";
        if (spec.type === "integer") input.step = "1";
        if (spec.minimum !== undefined) input.min = spec.minimum;
        if (spec.maximum !== undefined) input.max = spec.maximum;
        if (spec.maxLength !== undefined) input.maxLength = spec.maxLength;
      }
      input.id = id;
      input.dataset.field = name;
      input.dataset.type = spec.type || "string";
      if (required.has(name)) input.required = true;
      if (previous[name] !== undefined) {
        if (input.type === "checkbox") input.checked = previous[name] === true;
        else input.value = String(previous[name]);
      }
      const error = document.createElement("p");
      error.className = "field-error";
      error.id = `${id}-error`;
      input.setAttribute("aria-describedby", error.id);
      box.append(label, input, error);
    }
  }

  function collectCustom(strict) {
    const out = {};
    for (const input of document.querySelectorAll("#custom-fields [data-field]")) {
      const name = input.dataset.field;
      if (input.type === "checkbox") {
        if (input.checked || input.required) out[name] = input.checked;
        continue;
      }
      const raw = input.value.trim();
      if (raw === "") continue;
      if (input.dataset.type === "integer" || input.dataset.type === "number") {
        const n = Number(raw);
        out[name] = Number.isFinite(n) || !strict ? n : raw;
      } else {
        out[name] = raw;
      }
    }
    return out;
  }

  function clearErrors() {
    $("error").textContent = "";
    for (const el of document.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function fieldError(field, message) {
    const name = field.replace(/^\/?custom_fields[./]/, "");
    const input = $(field) || document.querySelector(`#custom-fields [data-field="${name}"]`);
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    const slot = $(`${input.id}-error`);
    if (slot) slot.textContent = message;
    return true;
  }

  function checkLocally() {
    let first = null;
    for (const input of form.querySelectorAll("[required]")) {
      const empty = input.type === "checkbox" ? false : input.value.trim() === "";
      if (empty) {
        fieldError(input.id, t("required"));
        first = first || input;
      }
    }
    const email = $("email");
    if (email.value.trim() && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.value.trim())) {
      fieldError("email", t("badEmail"));
      first = first || email;
    }
    if (first) first.focus();
    return !first;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    if (!checkLocally()) return;
    const body = new FormData();
    for (const name of ["category", "title", "description", "name", "email", "phone", "address", "website"]) {
      body.append(name, form.elements[name].value);
    }
    body.append("custom_fields", JSON.stringify(collectCustom(true)));
    for (const file of $("photos").files) body.append("photos", file, file.name);
    const send = $("send");
    send.disabled = true;
    send.textContent = t("sending");
    try {
      const response = await fetch(`/v1/public/${encodeURIComponent(tenant)}/requests`, { method: "POST", body });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 201) {
        form.hidden = true;
        $("ticket-number").textContent = answer.ticket_number;
        const link = $("progress");
        link.href = answer.progress_link;
        $("done").hidden = false;
        $("done").focus();
        return;
      }
      let message = answer.detail || `HTTP ${response.status}`;
      if (response.status === 429) message = t("tooMany");
      if (response.status === 413) message = t("tooLarge");
      let placed = false;
      for (const e of answer.errors || []) placed = fieldError(e.field, e.message) || placed;
      $("error").textContent = `${t("failed")} ${message}`;
      const invalid = form.querySelector("[aria-invalid=true]");
      if (placed && invalid) invalid.focus();
    } catch (e) {
      $("error").textContent = t("network");
    } finally {
      send.disabled = false;
      send.textContent = t("send");
    }
  });

  async function load() {
    translate();
    try {
      const response = await fetch(`/v1/public/${encodeURIComponent(tenant)}/form`);
      if (!response.ok) throw new Error(String(response.status));
      const info = await response.json();
      categories = info.categories || [];
      const select = $("category");
      for (const c of categories) select.append(new Option(c.name, c.name));
      select.addEventListener("change", renderCustom);
      form.hidden = false;
      renderCustom();
      window.truckrollIntake = { ready: true, categories };
    } catch (e) {
      $("unavailable").textContent = t("unavailable");
      $("unavailable").hidden = false;
      window.truckrollIntake = { ready: false };
    }
  }
  load();
})();
