// The ticket page's masked customer fields (set up by
// tests/tests/web/privacy.rs): a manager sees the phone, email and address
// masked, reveals the phone with the keyboard, and sees the Reveal buttons
// in Chinese. Screenshots at 1024 px.
import assert from "node:assert/strict";
import { env, launch, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const id = env("TICKET_ID");
const phone = env("PHONE");

async function shot(page, name) {
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.waitForTimeout(50);
  await page.screenshot({ path: `${artifacts}/privacy-${name}-1024.png`, fullPage: true });
  console.log(`screenshot: ${artifacts}/privacy-${name}-1024.png`);
}

const { browser, page } = await launch();
try {
  await signIn(page, base, env("TENANT"), env("EMAIL"), env("PASSWORD"), `/ticket?id=${id}`);
  await page.waitForFunction(() => window.truckrollTicket?.ticket);
  const customer = page.locator('dd[data-fact="ticket.customer"]');
  await customer.locator('[data-masked="phone"]').waitFor();
  assert.ok(!(await customer.innerText()).includes(phone), "the phone is masked");
  await page.locator('dd[data-fact="ticket.site"] [data-reveal="address"]').waitFor();
  const reveal = customer.locator('button[data-reveal="phone"]');
  assert.equal(await reveal.getAttribute("aria-label"), "Reveal the phone number");
  await shot(page, "masked");

  // With the keyboard: the value replaces the mask and keeps the focus nearby.
  await reveal.focus();
  await page.keyboard.press("Enter");
  await customer.filter({ hasText: phone }).waitFor();
  assert.equal(await customer.locator('button[data-reveal="phone"]').count(), 0);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset?.masked), "phone");
  await shot(page, "revealed");

  // In Chinese.
  await page.locator("#language").selectOption("zh-CN");
  await page.waitForLoadState("load");
  await page.waitForFunction(() => window.truckrollTicket?.ticket);
  await page.locator('dd[data-fact="ticket.customer"] button[data-reveal="email"]').filter({ hasText: "显示" }).waitFor();
  await shot(page, "masked-zh");
  await page.locator("#language").selectOption("en");
  await page.waitForLoadState("load");
  console.log("privacy: ok");
} catch (error) {
  await page.screenshot({ path: `${artifacts}/privacy-failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
