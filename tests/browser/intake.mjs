// The public request form end to end, by keyboard: load the tenant's form,
// see the category's custom fields, get readable errors, send a request
// with a photo and read the ticket number and progress link; the form in
// Chinese; a bot filling the honeypot is refused. Screenshots at 1024 and
// 1440 px. Set up by tests/tests/intake/form.rs (a_customer_reports_a_fault_in_chromium).
import assert from "node:assert/strict";
import { env, run, screenshot } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const slug = env("SLUG");
const artifact = env("ARTIFACT");
const shot = (suffix) => artifact.replace(/\.png$/, `-${suffix}.png`);

async function focused(page) {
  return page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
}

/** Tab until the element with `id` has focus (at most 25 presses). */
async function tabTo(page, id) {
  for (let i = 0; i < 25; i++) {
    if ((await focused(page)) === id) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`#${id} is not reachable by Tab (focus is on ${await focused(page)})`);
}

await run(artifact, async (page) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.goto(`${base}/request/${slug}?lang=en`);
  await page.waitForFunction(() => window.truckrollIntake?.ready === true);
  await page.getByRole("heading", { name: "Report a problem" }).waitFor();
  assert.deepEqual(await page.locator("#category option").allInnerTexts(), ["repair", "cleaning"]);
  // The category's schema became inputs: room, floor (required), urgent.
  await page.getByLabel("Room *").waitFor();
  await page.getByLabel("Floor *").waitFor();
  await page.getByLabel("Urgent").waitFor();
  await screenshot(page, shot("1024"));

  // Keyboard only: Tab through the form in order.
  await page.locator("body").click({ position: { x: 5, y: 200 } });
  await tabTo(page, "category");
  await tabTo(page, "cf-room");
  await page.keyboard.type("Office 3");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "cf-floor");
  await page.keyboard.type("4");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "cf-urgent");
  await page.keyboard.press("Space");
  // Sent without the required fields: readable messages beside them.
  await tabTo(page, "send");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#title-error").innerText(), "Please fill this in.");
  assert.equal(await page.locator("#name-error").innerText(), "Please fill this in.");
  assert.equal(await focused(page), "title", "focus moves to the first missing field");

  await page.keyboard.type("Radiator cold");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "description");
  await page.keyboard.type("The radiator in office 3 stays cold.");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "name");
  await page.keyboard.type("Sam Lee");
  await page.keyboard.press("Tab");
  await page.keyboard.type("not-an-email");
  await page.keyboard.press("Tab");
  await page.keyboard.type("+49 30 1234");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "address");
  await page.keyboard.type("Hauptstraße 5, Berlin");
  await page.locator("#photos").setInputFiles(env("PHOTO"));
  await tabTo(page, "send");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#email-error").innerText(), "Please enter a valid email address.");
  await page.locator("#email").fill("sam@example.com");
  await page.setViewportSize({ width: 1440, height: 900 });
  await screenshot(page, shot("1440"));
  await tabTo(page, "send");
  await page.keyboard.press("Enter");

  await page.locator("#done").waitFor({ state: "visible" });
  const number = await page.locator("#ticket-number").innerText();
  assert.match(number, /^TR-\d{6}$/);
  assert.equal(await page.locator("#progress").getAttribute("href"), `/track?ticket=${number}`);
  await screenshot(page, shot("done"));

  // Simplified Chinese, switched by the button.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.goto(`${base}/request/${slug}?lang=en`);
  await page.waitForFunction(() => window.truckrollIntake?.ready === true);
  await page.getByRole("button", { name: "中文" }).click();
  await page.getByRole("heading", { name: "报修" }).waitFor();
  await page.getByLabel("问题类型").waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  await screenshot(page, shot("zh"));

  // A bot fills every field, the hidden one too: refused, shown plainly.
  await page.goto(`${base}/request/${slug}?lang=en`);
  await page.waitForFunction(() => window.truckrollIntake?.ready === true);
  await page.getByLabel("Room *").fill("Hall");
  await page.getByLabel("Floor *").fill("1");
  await page.getByLabel("Short summary").fill("Cheap watches");
  await page.getByLabel("Your name").fill("Bot");
  await page.getByLabel("Email").fill("bot@spam.example");
  await page.locator("#website").fill("http://spam.example", { force: true });
  await page.getByRole("button", { name: "Send request" }).click();
  await page.locator("#error").filter({ hasText: "refused" }).waitFor();
  assert.equal(await page.locator("#done").isVisible(), false);

  // An unknown form says so.
  await page.goto(`${base}/request/no-such-desk`);
  await page.locator("#unavailable").filter({ hasText: "not available" }).waitFor();
});
