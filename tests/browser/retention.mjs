// The retention policy on the admin page (set up by tests/tests/web/retention.rs):
// an admin sets it with the keyboard at 1024 px, a value out of range is
// refused next to its field, and the page reads in Chinese. Screenshots at
// 1024 px; the Rust test checks what was stored.
import assert from "node:assert/strict";
import { env, everyControlLabelled, run, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");

async function shot(page, name) {
  await page.waitForTimeout(50);
  const path = `${artifacts}/retention-${name}-1024.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

const ready = (page) => page.waitForFunction(() => window.truckrollAdmin?.ready === true);

await run(`${artifacts}/retention-1024.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await signIn(page, base, env("TENANT"), env("EMAIL"), env("PASSWORD"), "/admin?kind=retention");
  await ready(page);
  assert.equal(await page.locator("#kind-title").innerText(), "Data retention");
  assert.equal(await page.locator('#kinds a[aria-current="page"]').innerText(), "Data retention");
  await everyControlLabelled(page, "retention");

  // Keyboard only: type into each field, Tab to the next, Enter saves.
  const months = page.getByLabel("Anonymise closed tickets after (months)");
  await months.focus();
  await page.keyboard.type("24");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-media_days");
  await page.keyboard.type("90");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-comment_days");
  await page.keyboard.press("Tab");
  await page.keyboard.type("30");
  await page.keyboard.press("Enter");
  const message = page.locator("#form-message");
  await message.filter({ hasText: "Retention policy saved." }).waitFor();
  await shot(page, "saved");

  // Out of range: refused before sending, said next to the field, which gets the focus.
  const comments = page.getByLabel("Delete comments of closed tickets after (days)");
  await comments.focus();
  await page.keyboard.type("0");
  await page.keyboard.press("Enter");
  await message.filter({ hasText: "Delete comments of closed tickets after (days): enter a whole number from 1 to 3,653" }).waitFor();
  assert.equal(await comments.getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-comment_days");
  await shot(page, "invalid");
  await comments.fill("");

  // In Chinese, after a reload: the stored values are shown.
  const titled = (title) => page.waitForFunction(
    (title) => document.getElementById("kind-title")?.textContent === title && window.truckrollAdmin?.ready === true, title);
  await page.locator("#language").selectOption("zh-CN");
  await titled("数据保留");
  assert.equal(await page.getByLabel("已关闭工单匿名化（月后）").inputValue(), "24");
  assert.equal(await page.getByLabel("技术员位置轨迹保留（天）").inputValue(), "30");
  assert.equal(await page.getByLabel("删除已关闭工单的评论（天后）").inputValue(), "");
  await shot(page, "zh");
  await page.locator("#language").selectOption("en");
  await titled("Data retention");
  console.log("retention: ok");
});
