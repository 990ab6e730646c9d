// Scheduling in the console (issue 20), set up by tests/tests/web/board.rs:
// on the ticket page, book an offered slot, move to another, cancel; on the
// schedule board, drag a job onto an absent technician (refused, reason
// shown), drag it to another technician and time, move another by keyboard,
// plan the day, read the changes, apply; the week in Simplified Chinese.
// Screenshots at 1024 px.
import assert from "node:assert/strict";
import { env, run, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const day = env("DAY");
const lane = (page, id) => page.locator(`.lane[data-technician-id="${id}"]`);
const job = (page, technician, ticket) => lane(page, technician).locator(`.job[data-ticket-id="${ticket}"]`);

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

await run(`${artifacts}/board-en-1024.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 800 });
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), `/ticket?id=${env("BOOKED")}`);

  // The ticket page: offered slots with their reasons; book, move, cancel.
  await page.waitForFunction(() => window.truckrollSchedule?.ready);
  const card = page.locator("#schedule-card");
  await card.getByText("No window booked yet.").waitFor();
  const offers = card.locator("#schedule-slots li");
  assert.ok((await offers.count()) >= 2, "at least two slots offered");
  assert.match(await offers.first().innerText(), /is qualified and free; the visit fits between .* min of driving/);
  const firstWindow = await offers.first().locator("strong").innerText();
  await offers.first().getByRole("button", { name: /^Book / }).click();
  await card.locator("#schedule-window").filter({ hasText: firstWindow }).waitFor();
  assert.match(await card.locator("#schedule-message").innerText(), /^Booked .* the customer is told\.$/);
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, `${artifacts}/ticket-slots-en-1024.png`);
  const secondWindow = await card.locator("#schedule-slots li").nth(1).locator("strong").innerText();
  assert.notEqual(secondWindow, firstWindow);
  const move = card.locator("#schedule-slots li").nth(1).getByRole("button", { name: /^Book / });
  assert.equal(await move.innerText(), "Move here");
  await move.focus();
  await page.keyboard.press("Enter");
  await card.locator("#schedule-window").filter({ hasText: secondWindow }).waitFor();
  await card.getByRole("button", { name: "Cancel the window" }).click();
  await card.getByText("Window cancelled; the customer is told.").waitFor();
  await card.getByText("No window booked yet.").waitFor();

  // The board, reached from the navigation.
  await page.getByRole("link", { name: "Schedule" }).click();
  await page.waitForFunction(() => window.truckrollBoard?.ready);
  await page.goto(`${base}/schedule?day=${day}`);
  await page.waitForFunction(() => window.truckrollBoard?.ready);
  await job(page, env("ADA"), env("FIRST")).waitFor();
  await job(page, env("BOB"), env("SECOND")).waitFor();
  assert.match(await lane(page, env("BOB")).innerText(), /Absent: training forklift/);
  assert.ok((await lane(page, env("ADA")).locator(".travel").count()) >= 1, "driving drawn before Ada's job");
  await screenshot(page, `${artifacts}/board-en-1024.png`);

  // Dragged onto Bob during his training: refused, the reason in words.
  await dragJob(page, env("FIRST"), env("BOB"), 10);
  const message = page.locator("#message");
  await message.filter({ hasText: `${env("FIRST_NUMBER")} was not moved` }).waitFor();
  assert.match(await message.innerText(), /Bob Hopper is absent \(training\)/);
  await job(page, env("ADA"), env("FIRST")).waitFor();
  await screenshot(page, `${artifacts}/board-refused-en-1024.png`);

  // Dragged onto Bob at 15:30, after his other job: moved.
  await dragJob(page, env("FIRST"), env("BOB"), 15.5);
  await page.locator("#notice").filter({ hasText: `${env("FIRST_NUMBER")} moved to Bob Hopper` }).waitFor();
  await job(page, env("BOB"), env("FIRST")).waitFor();
  assert.equal(await job(page, env("ADA"), env("FIRST")).count(), 0);

  // By keyboard: select the other job, choose Ada and 09:00, Enter.
  await job(page, env("BOB"), env("SECOND")).focus();
  await page.keyboard.press("Enter");
  await page.locator("#move").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "move-technician");
  await page.locator("#move-technician").selectOption({ label: "Ada Lovelace" });
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "move-date");
  await page.locator("#move-time").fill("09:00");
  await page.keyboard.press("Enter");
  await page.locator("#notice").filter({ hasText: `${env("SECOND_NUMBER")} moved to Ada Lovelace` }).waitFor();
  await job(page, env("ADA"), env("SECOND")).waitFor();

  // Plan the day: the changes first, nothing applied until asked.
  await page.getByRole("button", { name: "Plan this day" }).click();
  await page.locator("#plan").waitFor();
  const rows = page.locator("#plan-rows");
  await rows.locator("tr").first().waitFor();
  assert.match(await rows.locator("tr", { hasText: env("FRESH_NUMBER") }).innerText(), /Newly scheduled[\s\S]*Not on the board/);
  assert.match(await rows.locator("tr", { hasText: env("SECOND_NUMBER") }).innerText(), /Ada Lovelace[\s\S]*Ada Lovelace/);
  assert.match(await page.locator("#plan-summary").innerText(), /Nothing is changed until you apply\./);
  assert.equal(await page.locator(".timeline-board .job", { hasText: env("FRESH_NUMBER") }).count(), 0);
  await page.locator("#plan").scrollIntoViewIfNeeded();
  await screenshot(page, `${artifacts}/board-plan-en-1024.png`);
  assert.equal(await page.evaluate(() => document.activeElement.id), "plan-apply");
  await page.keyboard.press("Enter");
  await page.locator("#notice").filter({ hasText: /^Plan applied: \d+ visits scheduled\.$/ }).waitFor();
  await page.locator(".timeline-board .job", { hasText: env("FRESH_NUMBER") }).waitFor();

  // The week, in Simplified Chinese.
  await Promise.all([page.waitForEvent("load"), page.locator("#language").selectOption("zh-CN")]);
  await page.waitForFunction(() => document.documentElement.lang === "zh-CN" && window.truckrollBoard?.ready);
  await page.locator("#board-span").selectOption("7");
  await page.waitForFunction(() => window.truckrollBoard.board?.days === 7);
  await page.getByRole("heading", { name: "排班" }).waitFor();
  await screenshot(page, `${artifacts}/board-week-zh-1024.png`);
});
