// The map after issue 16 (set up by tests/tests/web/console.rs): the
// header counts the tenant's open tickets whatever the zoom, in good
// grammar; the open panel follows a ticket accepted meanwhile; an
// assignment sent with the version the panel showed is refused and the
// reason shown. The live stream is held back (routeWebSocket) so the click
// really races the acceptance.
import assert from "node:assert/strict";
import { env, launch, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const ticket = env("TICKET_ID");
const near = env("NEAR_TECHNICIAN_ID");
const far = env("FAR_TECHNICIAN_ID");
const api = async (path, token, method, body) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
};

const { browser, page } = await launch();
try {
  // The stream passes through here; `held` keeps what the page has not seen yet.
  let paused = false;
  const held = [];
  const sockets = [];
  await page.routeWebSocket(/\/v1\/live/, (ws) => {
    const server = ws.connectToServer();
    sockets.push(ws);
    server.onMessage((message) => (paused ? held.push([ws, message]) : ws.send(message)));
    ws.onMessage((message) => server.send(message));
  });

  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), "/dispatch");
  await page.locator("#connection").filter({ hasText: "live" }).waitFor();
  await page.locator(`.ticket-pin[data-ticket-id="${ticket}"]`).waitFor({ state: "visible" });

  // The header: the tenant's counts, unchanged by zooming, in good grammar.
  await page.locator("#counts").filter({ hasText: "2 technicians · 2 open tickets" }).waitFor();
  const snapshots = await page.evaluate(() => window.truckrollDispatch.starts.length);
  await page.evaluate(() => window.truckrollDispatch.map.setView([52.60, 13.10], 15, { animate: false }));
  await page.waitForFunction(() => window.truckrollDispatch.recent.some((m) => m.type === "snapshot" && m.tickets === 0));
  assert.equal(await page.locator("#counts").innerText(), "2 technicians · 2 open tickets");
  await api(`/v1/tickets/${env("SECOND_TICKET_ID")}`, env("ADMIN_TOKEN"), "PATCH", { status: "cancelled" });
  await page.evaluate(() => window.truckrollDispatch.map.setView([52.5163, 13.3795], 13, { animate: false }));
  await page.locator("#counts").filter({ hasText: "2 technicians · 1 open ticket" }).waitFor();
  assert.ok(snapshots >= 1);

  // Open the ticket: new, so Assign buttons.
  await page.locator(`#queue button[data-ticket-id="${ticket}"]`).click();
  const nearAssign = page.locator(`#candidates li[data-technician-id="${near}"] button`);
  await nearAssign.waitFor();
  assert.match(await nearAssign.innerText(), /^Assign /);

  // Meanwhile (the page hears nothing yet) the far technician gets and accepts it.
  paused = true;
  await api(`/v1/tickets/${ticket}/assign`, env("ADMIN_TOKEN"), "POST", { technician_id: far });
  await api(`/v1/tickets/${ticket}`, env("FAR_TECHNICIAN_TOKEN"), "PATCH", { status: "accepted" });

  // The click races it and is refused with the reason, not silently applied.
  await nearAssign.click();
  const message = page.locator("#detail-message");
  await message.filter({ hasText: "the ticket changed since the map showed it" }).waitFor();
  assert.match(await message.innerText(), /now accepted/);
  await screenshot(page, `${artifacts}/console-map-refused.png`);

  // Once the stream catches up, the panel follows: accepted, Reassign offered, no Assign.
  paused = false;
  for (const [ws, m] of held.splice(0)) ws.send(m);
  await page.locator('#detail-meta[data-status="accepted"]').waitFor();
  await message.filter({ hasText: "changed: now Accepted" }).waitFor();
  await page.locator(`#candidates li[data-technician-id="${near}"] button`).filter({ hasText: /^Reassign to / }).waitFor();
  // The far technician now has a job: busy, not available.
  await page.locator(`.tech-dot[data-technician-id="${far}"][data-status="busy"]`).waitFor({ state: "attached" });
  for (const width of [1024, 1440]) {
    await page.setViewportSize({ width, height: 800 });
    await page.waitForTimeout(100);
    await screenshot(page, `${artifacts}/console-map-${width}.png`);
  }
  assert.ok(sockets.length >= 1);
  // The map in Chinese, once the dispatcher chose it.
  await page.evaluate(() => window.TruckrollSession.api("/v1/me", { method: "PATCH", body: JSON.stringify({ locale: "zh-CN" }) }));
  await page.reload();
  await page.locator("#connection").filter({ hasText: "实时" }).waitFor();
  await page.locator("#counts").filter({ hasText: "2 名技术员 · 1 个未完成工单" }).waitFor();
  for (const width of [1024, 1440]) {
    await page.setViewportSize({ width, height: 800 });
    await page.waitForTimeout(100);
    await screenshot(page, `${artifacts}/console-map-zh-${width}.png`);
  }
} catch (error) {
  console.error(`FAILED: ${error.stack || error}`);
  await screenshot(page, `${artifacts}/console-map.failure.png`).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
