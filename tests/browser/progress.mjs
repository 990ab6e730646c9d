// The customer's progress page: the direct link while the technician is on
// the way (map and ETA), after arrival (no map), then the survey after
// close, answered by keyboard. Set up by tests/tests/web/progress.rs.
import assert from "node:assert/strict";
import { env, run, screenshot } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const link = `${base}/track/${env("LINK")}`;
const artifacts = env("ARTIFACTS");
const ticket = env("TICKET_ID");

async function moveTo(status) {
  const response = await fetch(`${base}/v1/tickets/${ticket}`, {
    method: "PATCH",
    headers: { "content-type": "application/json", authorization: `Bearer ${env("TECH_TOKEN")}` },
    body: JSON.stringify({ status }),
  });
  assert.equal(response.status, 200, `${status}: ${await response.text()}`);
}

await run(env("ARTIFACT"), async (page) => {
  // En route: status, first name only, the map with the technician and the ETA.
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto(link);
  await page.locator("#tracking").waitFor({ state: "visible" });
  await page.locator("#map .leaflet-interactive").first().waitFor();
  assert.match(await page.locator("#eta").innerText(), /Arrives in about \d+ min/);
  assert.equal(await page.locator("#technician").innerText(), "Ada");
  assert.equal(await page.locator("#status").innerText(), "Technician on the way");
  assert.match(await page.locator("#comments").innerText(), /Ada is on her way\./);
  await screenshot(page, `${artifacts}/progress-en-route-1024.png`);
  await page.setViewportSize({ width: 1440, height: 900 });
  await screenshot(page, `${artifacts}/progress-en-route-1440.png`);

  // Simplified Chinese from the page's switch.
  await page.getByRole("button", { name: "中文" }).click();
  assert.equal(await page.locator("h1").innerText(), "您的报修");
  assert.match(await page.locator("#eta").innerText(), /预计约 \d+ 分钟后到达/);
  await page.getByRole("button", { name: "English" }).click();

  // Arrived: the page stops showing the map.
  await moveTo("on_site");
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto(link);
  await page.locator("#status").getByText("Technician on site").waitFor();
  assert.equal(await page.locator("#tracking").isHidden(), true);
  assert.equal(await page.locator("#map .leaflet-interactive").count(), 0);
  await screenshot(page, `${artifacts}/progress-arrived-1024.png`);

  // Closed: the survey link focuses the form; answered by keyboard.
  await moveTo("work_done");
  await moveTo("closed");
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto("about:blank");
  await page.goto(`${link}#survey`);
  await page.locator("#survey").waitFor({ state: "visible" });
  await page.waitForFunction(() => document.activeElement?.name === "score");
  for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Tab");
  await page.keyboard.type("Quick and tidy");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.locator("#survey-done").getByText("Thank you! You rated us 4/5.").waitFor();
  assert.equal(await page.locator("#survey").isHidden(), true);
  await screenshot(page, `${artifacts}/progress-survey-1440.png`);
});
