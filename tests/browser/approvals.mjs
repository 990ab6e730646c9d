// The approvals inbox end to end (set up by tests/tests/web/approvals.rs):
// the "done when" — a manager approves a costly job from the inbox,
// from the keyboard (comment, then Approve), sees it leave the inbox and
// find it under "Approved"; a rejection without a comment is refused on the
// page; the page in Chinese. Screenshots at 1024 and 1440 px.
import assert from "node:assert/strict";
import { env, everyControlLabelled, launch, shooter, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const shots = shooter(artifacts, "approvals", 800);
const number = env("NUMBER");

const ready = (page) => page.waitForFunction(() => window.truckrollApprovals?.ready === true);

const { browser, page } = await launch();
try {
  await page.setViewportSize({ width: 1024, height: 800 });
  await signIn(page, base, env("TENANT"), env("MANAGER_EMAIL"), env("PASSWORD"), "/approvals");
  await ready(page);
  await everyControlLabelled(page, "approvals");
  const [en, zh] = await page.evaluate(() => [window.TruckrollI18n.keys("en"), window.TruckrollI18n.keys("zh-CN")]);
  assert.deepEqual([...zh].sort(), [...en].sort(), "the Chinese dictionary lacks or adds keys");
  // The nav links the inbox.
  await page.locator("nav a[aria-current=page]").filter({ hasText: "Approvals" }).waitFor();
  const row = page.locator("#rows tr").filter({ hasText: number });
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /Parts over 500/, text);
  assert.match(text, /600\.00/, text);
  assert.match(text, /new compressor/, text);
  assert.match(text, /SLA paused while waiting/, text);
  // Nothing cut off at 1024 px: the table fits the page.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 1024`);
  await shots(page, "inbox");

  // A rejection without a comment is refused on the page.
  await page.getByRole("button", { name: `Reject ${number}` }).click();
  await page.locator("#message").filter({ hasText: "A rejection needs a comment." }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), `Comment on ${number}`);

  // From the keyboard: type the comment, Tab to Approve, Enter.
  await page.keyboard.type("Go ahead, customer agreed");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), `Approve ${number}`);
  await page.keyboard.press("Enter");
  await page.locator("#done").filter({ hasText: `${number} approved.` }).waitFor();
  await page.locator("#rows").filter({ hasText: "Nothing here." }).waitFor();
  await shots(page, "approved");

  // Under "Approved" with the comment.
  await page.getByLabel("Show").selectOption("approved");
  await page.locator("#rows tr").filter({ hasText: number }).filter({ hasText: "Go ahead, customer agreed" }).waitFor();
  await shots(page, "history");

  // In Chinese.
  await page.locator("#language").selectOption("zh-CN");
  await page.waitForLoadState("load");
  await ready(page);
  await page.getByRole("heading", { name: "审批", exact: true }).waitFor();
  await page.locator("#inbox-title").filter({ hasText: "收件箱" }).waitFor();
  await everyControlLabelled(page, "approvals zh");
  await shots(page, "inbox-zh");

  // ---- the admin applies a macro from the ticket page ------------------------
  await page.evaluate(() => sessionStorage.clear());
  await signIn(page, base, env("TENANT"), env("ADMIN_EMAIL"), env("PASSWORD"), `/ticket?id=${env("TICKET_ID")}`);
  await page.waitForFunction(() => window.truckrollMacros?.ready === true);
  await page.locator("#macros-card").waitFor();
  await page.getByLabel("Macro", { exact: true }).selectOption({ label: `${env("MACRO_NAME")} (mine)` });
  await page.getByRole("button", { name: "Preview", exact: true }).click();
  await page.locator("#macro-result").filter({ hasText: "would:" }).filter({ hasText: "tags + approved" }).waitFor();
  await page.locator("#macro-result").filter({ hasText: `Hello Hotel, the repair of ${number} is approved.` }).waitFor();
  // The preview wrote nothing.
  assert.equal(await page.locator("#comments").filter({ hasText: "is approved." }).count(), 0);
  await shots(page, "macro-preview");
  await page.getByRole("button", { name: "Apply macro" }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#macro-result").filter({ hasText: "applied:" }).waitFor();
  await page.locator("#timeline").filter({ hasText: `macro "${env("MACRO_NAME")}" applied: tags + approved` }).waitFor();
  await page.locator("#comments").filter({ hasText: `Hello Hotel, the repair of ${number} is approved.` }).waitFor();
  await page.locator("#timeline").filter({ hasText: "approval approved under" }).waitFor();
  await shots(page, "macro-applied");
  console.log("approvals page: ok");
} catch (error) {
  await page.screenshot({ path: `${artifacts}/approvals-failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
