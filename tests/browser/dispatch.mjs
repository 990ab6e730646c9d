// The dispatcher page end to end: sign in, see technicians, open an
// unassigned ticket, assign it from the candidates, see the marker change;
// a ping through the API moves a technician's marker. Set up by
// tests/tests/web/browser.rs, which passes the world in environment variables.
import assert from "node:assert/strict";
import { env, run, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifact = env("ARTIFACT");
const near = env("NEAR_TECHNICIAN_ID");
const far = env("FAR_TECHNICIAN_ID");
const ticket = env("TICKET_ID");

await run(artifact, async (page) => {
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), "/dispatch");

  // Technicians on the map, coloured by status.
  const nearDot = page.locator(`[data-technician-id="${near}"]`);
  const farDot = page.locator(`[data-technician-id="${far}"]`);
  await nearDot.waitFor({ state: "visible" });
  await farDot.waitFor({ state: "visible" });
  assert.equal(await nearDot.getAttribute("data-status"), "available");
  await page.getByRole("status").filter({ hasText: "live" }).waitFor();

  // The unassigned ticket: in the queue and on the map, opened by keyboard.
  const queued = page.locator(`#queue button[data-ticket-id="${ticket}"]`);
  await queued.waitFor();
  const pin = page.locator(`.ticket-pin[data-ticket-id="${ticket}"]`);
  await pin.waitFor({ state: "visible" });
  assert.match(await pin.getAttribute("class"), /\bunassigned\b/);
  await queued.focus();
  await page.keyboard.press("Enter");

  // Ranked candidates with reasons; the nearest first.
  const candidates = page.locator("#candidates li[data-technician-id]");
  await candidates.first().waitFor();
  assert.equal(await candidates.first().getAttribute("data-technician-id"), near);
  assert.match(await candidates.first().locator(".why").innerText(), /km/);
  await screenshot(page, artifact.replace(/\.png$/, "-candidates.png"));
  await candidates.first().getByRole("button", { name: /^Assign/ }).click();

  // The marker changes, the queue empties, the status says so.
  await page.locator(`.ticket-pin.assigned[data-ticket-id="${ticket}"][data-assignee="${near}"]`).waitFor();
  await queued.waitFor({ state: "detached" });
  await page.locator("#detail-message").filter({ hasText: "assigned to" }).waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#detail").waitFor({ state: "hidden" });

  // A ping sent through the API moves the far technician's marker.
  const where = (id) => {
    const box = document.querySelector(`[data-technician-id="${id}"]`)?.getBoundingClientRect();
    return box && box.width > 0 ? { x: box.x, y: box.y } : null;
  };
  const before = await (await page.waitForFunction(where, far)).jsonValue();
  assert.equal(await page.evaluate((id) => window.truckrollDispatch.technicians.get(id).lat, far), Number(env("FAR_LAT")));
  const to = { lat: Number(env("PING_LAT")), lon: Number(env("PING_LON")) };
  const response = await fetch(`${base}/v1/me/locations`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env("FAR_TECHNICIAN_TOKEN")}` },
    body: JSON.stringify({ pings: [{ device_time: new Date().toISOString(), lat: to.lat, lon: to.lon, accuracy_m: 5 }] }),
  });
  assert.equal(response.status, 200, await response.text());
  await page.waitForFunction(
    ([id, lat]) => Math.abs((window.truckrollDispatch.technicians.get(id)?.lat ?? 0) - lat) < 1e-9,
    [far, to.lat],
  );
  await page.waitForFunction(
    ([id, x, y]) => {
      const box = document.querySelector(`[data-technician-id="${id}"]`)?.getBoundingClientRect();
      return box && box.width > 0 && Math.hypot(box.x - x, box.y - y) > 5;
    },
    [far, before.x, before.y],
  );
  await screenshot(page, artifact);

  // A dropped connection resumes from its cursor: what was missed arrives
  // as a replayed delta, not a fresh snapshot.
  const starts = await page.evaluate(() => window.truckrollDispatch.starts.length);
  await page.evaluate(() => window.truckrollDispatch.socket.close());
  const again = { lat: to.lat + 0.002, lon: to.lon };
  const moved = await fetch(`${base}/v1/me/locations`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env("FAR_TECHNICIAN_TOKEN")}` },
    body: JSON.stringify({ pings: [{ device_time: new Date().toISOString(), lat: again.lat, lon: again.lon, accuracy_m: 5 }] }),
  });
  assert.equal(moved.status, 200, await moved.text());
  await page.waitForFunction((n) => window.truckrollDispatch.starts.length > n, starts);
  assert.equal(await page.evaluate(() => window.truckrollDispatch.starts.at(-1)), "replayed");
  await page.waitForFunction(
    ([id, lat]) => Math.abs((window.truckrollDispatch.technicians.get(id)?.lat ?? 0) - lat) < 1e-9,
    [far, again.lat],
  );
  await page.getByRole("status").filter({ hasText: "live" }).waitFor();

  // A laptop's width: side list and map side by side, nothing off screen.
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.evaluate(() => window.truckrollDispatch.map.invalidateSize());
  const layout = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const side = document.querySelector(".side").getBoundingClientRect();
    const map = document.getElementById("map").getBoundingClientRect();
    return {
      noHorizontalScroll: document.documentElement.scrollWidth <= width,
      sideVisible: side.width >= 200 && side.left >= 0,
      mapBesideIt: map.left >= side.right - 1 && map.right <= width + 1 && map.width >= 500 && map.height >= 400,
    };
  });
  assert.deepEqual(layout, { noHorizontalScroll: true, sideVisible: true, mapBesideIt: true });
  // Zoomed out, technicians close together become one cluster marker.
  await page.evaluate(() => window.truckrollDispatch.map.setZoom(8, { animate: false }));
  await page.locator(".marker-cluster").filter({ hasText: "2" }).waitFor();
  await screenshot(page, artifact.replace(/\.png$/, "-1024.png"));
  console.log("dispatch page: all steps passed");
});
