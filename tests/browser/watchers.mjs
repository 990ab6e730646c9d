// The ticket page's watch card (set up by tests/tests/web/watchers.rs): a
// dispatcher who was @mentioned finds the mention on the ticket and the
// unread count in the navigation, watches the ticket with the keyboard and
// stops again; the card in Chinese. Screenshots at 1024 px.
import assert from "node:assert/strict";
import { env, launch, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const id = env("TICKET_ID");

async function shot(page, name) {
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.waitForTimeout(50);
  await page.screenshot({ path: `${artifacts}/watch-${name}-1024.png`, fullPage: true });
  console.log(`screenshot: ${artifacts}/watch-${name}-1024.png`);
}

const { browser, page } = await launch();
try {
  await signIn(page, base, env("TENANT"), env("EMAIL"), env("PASSWORD"), `/ticket?id=${id}`);
  await page.waitForFunction(() => window.truckrollTicket?.ticket);
  const card = page.locator("#watch-card");
  await card.waitFor();
  // The mention, on this ticket and in the navigation's unread count.
  await page.locator("#watch-notifications").filter({ hasText: "Admin mentioned you on" }).waitFor();
  await page.locator("#nav-notifications").filter({ hasText: "Notifications (1)" }).waitFor();
  const toggle = page.locator("#watch-toggle");
  assert.equal(await toggle.getAttribute("aria-pressed"), "false");
  await page.locator("#watch-count").filter({ hasText: "Nobody watches it." }).waitFor();

  // With the keyboard.
  await toggle.focus();
  await page.keyboard.press("Enter");
  await page.locator("#watch-count").filter({ hasText: "1 person watches it." }).waitFor();
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  assert.equal(await toggle.innerText(), "Stop watching");
  await shot(page, "watching");

  // In Chinese.
  await page.locator("#language").selectOption("zh-CN");
  await page.waitForLoadState("load");
  await page.waitForFunction(() => window.truckrollTicket?.ticket);
  await page.locator("#watch-toggle").filter({ hasText: "取消关注" }).waitFor();
  await page.locator("#watch-heading").filter({ hasText: "关注" }).waitFor();
  await shot(page, "watching-zh");
  await page.locator("#watch-toggle").click();
  await page.locator("#watch-toggle").filter({ hasText: "关注此工单" }).waitFor();
  await page.locator("#language").selectOption("en");
  await page.waitForLoadState("load");
  console.log("watch card: ok");
} catch (error) {
  await page.screenshot({ path: `${artifacts}/watch-failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
