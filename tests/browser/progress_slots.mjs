// The customer picks a visit time on the progress page (issue 20), set up
// by tests/tests/web/board.rs: the first pick is taken meanwhile by the
// office (the page says so and offers again), the second is booked; then
// the page switched to Simplified Chinese rewrites the confirmation already
// shown, and back. Screenshots at 1024 px.
import assert from "node:assert/strict";
import { env, run, screenshot } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");

await run(`${artifacts}/progress-slots-en-1024.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.goto(`${base}/track/${env("LINK")}?lang=en`);
  const form = page.locator("#choose");
  await form.getByRole("heading", { name: "Choose a time for the visit" }).waitFor();
  const radios = form.locator("input[name=slot]");
  await radios.first().waitFor();
  const taken = await page.evaluate(() => window.truckrollProgress.choice.slots[0]);

  // Meanwhile the office books that time for a neighbour.
  const response = await fetch(`${base}/v1/tickets/${env("NEIGHBOUR")}/window`, {
    method: "PUT",
    headers: { authorization: `Bearer ${env("ADMIN_TOKEN")}`, "content-type": "application/json" },
    body: JSON.stringify({ starts_at: taken.starts_at, ends_at: taken.ends_at, technician_id: env("TECHNICIAN") }),
  });
  assert.equal(response.status, 200, await response.text());

  // By keyboard: the first time, then the button.
  await radios.first().focus();
  await page.keyboard.press("Space");
  await page.getByRole("button", { name: "Book this time" }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#choose-message").filter({ hasText: "That time was just taken. Please choose another." }).waitFor();
  await page.waitForFunction((start) => window.truckrollProgress.choice.slots[0]?.starts_at !== start, taken.starts_at);

  await radios.first().check();
  await page.getByRole("button", { name: "Book this time" }).click();
  await page.locator("#choose-message").filter({ hasText: /^Booked: .* We have sent you a confirmation\.$/ }).waitFor();
  await page.locator("#window").filter({ hasText: /\d{2}:\d{2}/ }).waitFor();
  await screenshot(page, `${artifacts}/progress-slots-en-1024.png`);

  const booked = await page.locator("#choose-message").innerText();

  // Switched to Chinese after booking: the confirmation already shown is
  // rewritten in Chinese, its window too (no English left in it).
  await page.locator("#lang").click();
  await page.getByRole("heading", { name: "选择上门时间" }).waitFor();
  const message = page.locator("#choose-message");
  await message.filter({ hasText: /^已预约：.*确认消息已发送给您。$/ }).waitFor();
  const chinese = await message.innerText();
  assert.doesNotMatch(chinese, /Booked|confirmation|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday/);
  assert.match(chinese, /\d+月\d+日/);
  await screenshot(page, `${artifacts}/progress-slots-zh-1024.png`);

  // And back: the English words again, as first shown.
  await page.locator("#lang").click();
  await page.getByRole("heading", { name: "Choose a time for the visit" }).waitFor();
  assert.equal(await message.innerText(), booked);
});
