// The customer's progress page: in by a direct link (/track/{token}) or a
// one-time code; then the ticket, the live map while en route, replies and
// the survey. English and Simplified Chinese from the dictionary below:
// every text the page writes is kept as a key (and its values), so that
// switching the language rewrites what is already shown.
"use strict";

const WORDS = {
  en: {
    heading: "Your service request", ask_title: "Follow your request", company: "Service company",
    number: "Ticket number", send_code: "Email me a code", code: "Code", open: "Open",
    code_sent: "If the number is ours, a code is on its way to the contact on file.",
    status: "Status", window: "Appointment", technician: "Technician", on_the_way: "Your technician is on the way",
    survey_title: "How did we do?", survey_question: "Rate the service from 1 (poor) to 5 (excellent)",
    survey_comment: "Anything to add?", send: "Send", messages: "Messages", reply: "Your reply",
    eta: (m) => `Arrives in about ${m} min`, you: "You", team: "Service team", none: "—",
    thanks: (s) => `Thank you! You rated us ${s}/5.`, pick: "Choose a score from 1 to 5.",
    statuses: { new: "Received", assigned: "Technician assigned", accepted: "Technician confirmed", en_route: "Technician on the way",
      on_site: "Technician on site", on_hold: "On hold", work_done: "Work done", closed: "Closed", cancelled: "Cancelled" },
    other: "中文",
    choose_title: "Choose a time for the visit", choose_hint: "Times the technician can come (two-hour windows)",
    choose_book: "Book this time", choose_none: "No free times in the next two weeks; we will call you.",
    choose_pick: "Choose one of the times first.", choose_done: (w) => `Booked: ${w}. We have sent you a confirmation.`,
    choose_taken: "That time was just taken. Please choose another.",
  },
  "zh-CN": {
    heading: "您的报修", ask_title: "查看报修进度", company: "服务公司",
    number: "工单号", send_code: "发送验证码到我的邮箱", code: "验证码", open: "查看",
    code_sent: "如果工单号存在，验证码已发送到登记的联系方式。",
    status: "状态", window: "预约时间", technician: "技术员", on_the_way: "技术员正在赶来",
    survey_title: "请评价本次服务", survey_question: "请为服务打分：1（差）到 5（很好）",
    survey_comment: "还有什么想说的？", send: "发送", messages: "消息", reply: "您的回复",
    eta: (m) => `预计约 ${m} 分钟后到达`, you: "您", team: "服务团队", none: "—",
    thanks: (s) => `谢谢！您的评分是 ${s}/5。`, pick: "请选择 1 到 5 分。",
    statuses: { new: "已受理", assigned: "已指派技术员", accepted: "技术员已确认", en_route: "技术员正在赶来",
      on_site: "技术员已到场", on_hold: "暂停", work_done: "已完工", closed: "已关闭", cancelled: "已取消" },
    other: "English",
    choose_title: "选择上门时间", choose_hint: "技术员可以上门的时间（两小时时段）",
    choose_book: "预约此时间", choose_none: "未来两周没有空闲时间，我们会打电话联系您。",
    choose_pick: "请先选择一个时间。", choose_done: (w) => `已预约：${w}。确认消息已发送给您。`,
    choose_taken: "该时间刚被预约，请选择其他时间。",
  },
};

const params = new URLSearchParams(location.search);
let lang = params.get("lang") || (navigator.language.toLowerCase().startsWith("zh") ? "zh-CN" : "en");
if (!WORDS[lang]) lang = "en";
const $ = (id) => document.getElementById(id);
const t = (key) => WORDS[lang][key];
let bearer = sessionStorage.getItem("progress-token");
let last = null;
let map = null;
let markers = null;
let poll = null;

function translate() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("other");
  $("lang").lang = lang === "en" ? "zh-CN" : "en";
  renderError();
  renderChoiceMessage();
  if (last) render(last);
}

async function call(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const problem = data || {};
    const error = new Error(problem.detail || problem.title || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

// The error shown: the server's words ({ text }) or one of ours ({ key }).
let shownError = null;
function renderError() {
  $("error").textContent = !shownError ? "" : shownError.key ? t(shownError.key) : shownError.text;
}
function showError(error) { shownError = error ? { text: error.message } : null; renderError(); }
function showOwnError(key) { shownError = { key }; renderError(); }

async function load() {
  try {
    last = await call("GET", "/v1/public/track");
    showError(null);
    render(last);
    if (choice === null) loadChoice();
  } catch (error) {
    if (error.status === 401) { sessionStorage.removeItem("progress-token"); bearer = null; askForCode(); }
    showError(error);
  }
}

function render(view) {
  $("ask").hidden = true; $("enter").hidden = true; $("view").hidden = false;
  $("title").textContent = view.title;
  $("number").textContent = view.number;
  $("status").textContent = t("statuses")[view.status] || view.status;
  $("window").textContent = view.appointment_window || t("none");
  $("technician").textContent = view.technician_first_name || t("none");
  const list = $("comments");
  list.replaceChildren(...view.comments.map((c) => {
    const li = document.createElement("li");
    if (c.from_customer) li.className = "mine";
    const who = document.createElement("strong");
    who.textContent = c.from_customer ? t("you") : t("team");
    const time = document.createElement("time");
    time.dateTime = c.created_at;
    time.textContent = new Date(c.created_at).toLocaleString(lang);
    const text = document.createElement("p");
    text.textContent = c.body;
    li.append(who, time, text);
    return li;
  }));
  renderTracking(view.tracking);
  renderChoice();
  $("survey").hidden = !view.survey_open;
  $("survey-done").hidden = !view.survey;
  if (view.survey) $("survey-done").textContent = t("thanks")(view.survey.score);
  if (view.survey_open && location.hash === "#survey" && !document.activeElement.closest("#survey")) {
    $("survey").querySelector("input").focus();
  }
  clearTimeout(poll);
  // Follow the technician while on the way; at arrival the page stops asking.
  if (view.status === "en_route") poll = setTimeout(load, 10000);
}

async function renderTracking(tracking) {
  $("tracking").hidden = !tracking;
  if (!tracking) {
    if (map) { map.remove(); map = null; }
    return;
  }
  $("eta").textContent = t("eta")(tracking.eta_minutes);
  if (!map) {
    map = L.map("map", { keyboard: true });
    const config = await fetch("/web/config.json").then((r) => r.json()).catch(() => ({}));
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(map);
    }
    markers = L.layerGroup().addTo(map);
  }
  markers.clearLayers();
  const here = [tracking.lat, tracking.lon];
  const site = [tracking.site_lat, tracking.site_lon];
  L.circleMarker(here, { radius: 9, color: "#2563eb", fillOpacity: 0.9 }).bindTooltip(t("technician")).addTo(markers);
  L.circleMarker(site, { radius: 7, color: "#16a34a", fillOpacity: 0.6 }).addTo(markers);
  map.fitBounds([here, site], { padding: [40, 40], maxZoom: 15 });
}

// The visit windows the customer may pick (where the service company allows it).
let choice = null;
window.truckrollProgress = { get choice() { return choice; } };

function windowLabel(slot, timeZone) {
  const day = new Intl.DateTimeFormat(lang, { timeZone, weekday: "long", month: "long", day: "numeric" });
  const clock = new Intl.DateTimeFormat(lang, { timeZone, hour: "2-digit", minute: "2-digit" });
  const start = new Date(slot.starts_at);
  return `${day.format(start)}, ${clock.format(start)}–${clock.format(new Date(slot.ends_at))}`;
}

// What the booking form says: { key, slot } for our words (the booked
// window written in the page's language), { text } for the server's.
let choiceMessage = null;
function renderChoiceMessage() {
  const message = choiceMessage;
  let text = "";
  if (message && message.key === "choose_done") text = t("choose_done")(windowLabel(message.slot, message.timeZone));
  else if (message && message.key) text = t(message.key);
  else if (message) text = message.text;
  $("choose-message").textContent = text;
}
function sayChoice(message) { choiceMessage = message; renderChoiceMessage(); }

function renderChoice() {
  const form = $("choose");
  form.hidden = !(choice && choice.allowed);
  if (form.hidden) return;
  const picked = form.querySelector("input[name=slot]:checked")?.value;
  const list = $("choose-slots");
  if (choice.slots.length === 0) {
    const none = document.createElement("p");
    none.textContent = t("choose_none");
    list.replaceChildren(none);
    return;
  }
  list.replaceChildren(...choice.slots.map((slot, index) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "slot";
    input.value = String(index);
    input.checked = picked === String(index);
    label.append(input, ` ${windowLabel(slot, choice.time_zone)}`);
    return label;
  }));
}

async function loadChoice() {
  try {
    choice = await call("GET", "/v1/public/track/slots");
  } catch (error) {
    choice = null;
  }
  renderChoice();
}

$("choose").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picked = $("choose").querySelector("input[name=slot]:checked");
  if (!picked) { sayChoice({ key: "choose_pick" }); return; }
  const slot = choice.slots[Number(picked.value)];
  try {
    await call("POST", "/v1/public/track/slots", { starts_at: slot.starts_at, ends_at: slot.ends_at });
    sayChoice({ key: "choose_done", slot, timeZone: choice.time_zone });
    await load();
    await loadChoice();
  } catch (error) {
    sayChoice(error.status === 409 ? { key: "choose_taken" } : { text: error.message });
    await loadChoice();
  }
});

function askForCode() {
  $("view").hidden = true;
  $("ask").hidden = false;
  $("tenant").value = params.get("tenant") || "";
  $("ticket").value = params.get("ticket") || "";
  ($("tenant").value ? $("ticket") : $("tenant")).focus();
}

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("POST", "/v1/public/track/codes", { tenant: $("tenant").value, ticket: $("ticket").value });
    showError(null);
    $("enter").hidden = false;
    $("code").focus();
  } catch (error) { showError(error); }
});

$("enter").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const session = await call("POST", "/v1/public/track/sessions",
      { tenant: $("tenant").value, ticket: $("ticket").value, code: $("code").value });
    bearer = session.token;
    sessionStorage.setItem("progress-token", bearer);
    await load();
  } catch (error) { showError(error); }
});

$("reply").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await call("POST", "/v1/public/track/comments", { body: $("reply-body").value });
    $("reply-body").value = "";
    await load();
  } catch (error) { showError(error); }
});

$("survey").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picked = $("survey").querySelector("input[name=score]:checked");
  if (!picked) { showOwnError("pick"); return; }
  try {
    await call("POST", "/v1/public/track/survey", { score: Number(picked.value), comment: $("survey-comment").value });
    await load();
  } catch (error) { showError(error); }
});

$("lang").addEventListener("click", () => { lang = lang === "en" ? "zh-CN" : "en"; translate(); });

async function start() {
  translate();
  const link = location.pathname.startsWith("/track/") ? location.pathname.slice("/track/".length) : "";
  if (link) {
    try {
      bearer = null;
      const session = await call("POST", "/v1/public/track/sessions", { link });
      bearer = session.token;
      sessionStorage.setItem("progress-token", bearer);
    } catch (error) { showError(error); askForCode(); return; }
  }
  if (bearer) await load(); else askForCode();
}
start();
