// The schedule board's unassigned lane (issue 20), set up by
// tests/tests/web/board.rs: two windows promised with no technician (they
// overlap, so they stack); one is dragged onto an absent technician
// (refused, the reason shown), then onto him after his training; the other
// is moved by keyboard to another technician, the form asking for a
// technician first. Then the lane in Simplified Chinese. Screenshots at 1024 px.
import assert from "node:assert/strict";
import { env, run, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const day = env("DAY");
const waiting = (page) => page.locator(".lane.unassigned");
const lane = (page, id) => page.locator(`.lane[data-technician-id="${id}"]`);
const job = (scope, ticket) => scope.locator(`.job[data-ticket-id="${ticket}"]`);

/** Drags the job onto the technician's lane so that its window starts at `hour`:00 of the day. */
async function dragJob(page, ticket, technician, hour) {
  const source = page.locator(`.job[data-ticket-id="${ticket}"]`);
  const track = page.locator(`.track[data-technician-id="${technician}"]`);
  const box = await track.boundingBox();
  const x = await page.evaluate(([h, width]) => {
    const s = window.truckrollBoard;
    const [low, high] = s.range;
    return ((Date.parse(s.board.from) + h * 3_600_000 - low) / (high - low)) * width;
  }, [hour, box.width]);
  await source.dragTo(track, { sourcePosition: { x: 2, y: 6 }, targetPosition: { x: x + 2, y: 10 } });
}

await run(`${artifacts}/board-unassigned-en-1024.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 800 });
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), `/schedule?day=${day}`);
  await page.waitForFunction(() => window.truckrollBoard?.ready);

  // Both promised windows wait in the unassigned lane, stacked (they overlap).
  const lane0 = waiting(page);
  await lane0.getByText("Unassigned").first().waitFor();
  await job(lane0, env("EARLY")).waitFor();
  await job(lane0, env("LATE")).waitFor();
  const [a, b] = [await job(lane0, env("EARLY")).boundingBox(), await job(lane0, env("LATE")).boundingBox()];
  assert.ok(b.y >= a.y + a.height - 1 || a.y >= b.y + b.height - 1, "overlapping promises are stacked, not drawn on each other");
  assert.match(await job(lane0, env("EARLY")).getAttribute("aria-label"), /promised window .* no technician yet/);
  await screenshot(page, `${artifacts}/board-unassigned-en-1024.png`);

  // Onto Bob during his training: refused in words, still unassigned.
  await dragJob(page, env("EARLY"), env("BOB"), 9);
  const message = page.locator("#message");
  await message.filter({ hasText: `${env("EARLY_NUMBER")} was not moved` }).waitFor();
  assert.match(await message.innerText(), /Bob Hopper is absent \(training\)/);
  await job(waiting(page), env("EARLY")).waitFor();

  // Onto Bob at 13:00, after it: booked with him, gone from the lane.
  await dragJob(page, env("EARLY"), env("BOB"), 13);
  await page.locator("#notice").filter({ hasText: `${env("EARLY_NUMBER")} moved to Bob Hopper` }).waitFor();
  await job(lane(page, env("BOB")), env("EARLY")).waitFor();
  assert.equal(await job(waiting(page), env("EARLY")).count(), 0);

  // By keyboard: select the other, Enter with no technician chosen is
  // refused; choose Ada and 14:00, Enter.
  await job(waiting(page), env("LATE")).focus();
  await page.keyboard.press("Enter");
  await page.locator("#move").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "move-technician");
  assert.equal(await page.locator("#move-technician").inputValue(), "");
  await page.locator("#move-time").focus();
  await page.keyboard.press("Enter");
  await page.locator("#message").filter({ hasText: "Choose a technician for the job." }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "move-technician");
  await page.locator("#move-technician").selectOption({ label: "Ada Lovelace" });
  await page.locator("#move-time").fill("14:00");
  await page.keyboard.press("Enter");
  await page.locator("#notice").filter({ hasText: `${env("LATE_NUMBER")} moved to Ada Lovelace` }).waitFor();
  await job(lane(page, env("ADA")), env("LATE")).waitFor();
  await waiting(page).getByText("No promised window without a technician.").waitFor();
  await screenshot(page, `${artifacts}/board-unassigned-moved-en-1024.png`);

  // In Simplified Chinese.
  await Promise.all([page.waitForEvent("load"), page.locator("#language").selectOption("zh-CN")]);
  await page.waitForFunction(() => document.documentElement.lang === "zh-CN" && window.truckrollBoard?.ready);
  await waiting(page).getByText("未指派").first().waitFor();
  await screenshot(page, `${artifacts}/board-unassigned-zh-1024.png`);
});
