// The back-office console end to end (set up by tests/tests/web/console.rs):
// a dispatcher creates a ticket with custom fields and finds it again,
// bulk-assigns five tickets and reads each result, sees a customer's new
// name on the ticket page, meets a stale edit explained, switches to
// Chinese and finds a Chinese title; a technician lands on their own page.
// Screenshots of every page at 1024 and 1440 px.
import assert from "node:assert/strict";
import { env, everyControlLabelled, launch, screenshot, shooter, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const shots = shooter(artifacts, "console");
const password = env("PASSWORD");

const ready = (page, model) => page.waitForFunction((m) => window[m]?.ready === true, model);

const { browser, page } = await launch();
let current = page;
try {
  // ---- the dispatcher lands on the queue -----------------------------------
  await page.goto(`${base}/`);
  await shots(page, "signin");
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), password, "/tickets");
  await ready(page, "truckrollQueue");
  await everyControlLabelled(page, "queue");
  // Keyboard: the first tab stop is a visible control with a focus ring.
  await page.keyboard.press("Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none", "focus is visible");
  await shots(page, "queue");
  // Both dictionaries hold the same keys.
  const [en, zh] = await page.evaluate(() => [window.TruckrollI18n.keys("en"), window.TruckrollI18n.keys("zh-CN")]);
  assert.deepEqual([...zh].sort(), [...en].sort(), "the Chinese dictionary lacks or adds keys");

  // ---- create a ticket with custom fields ------------------------------------
  await page.goto(`${base}/tickets/new`);
  await ready(page, "truckrollNewTicket");
  await page.getByLabel("Find a customer").fill("Acme");
  await page.getByLabel("Customer", { exact: true }).selectOption({ label: env("CUSTOMER_NAME") });
  await page.getByLabel("Category").selectOption("hvac");
  await page.getByLabel("Refrigerant").selectOption("R32");
  await page.getByLabel("Title").fill("Compressor rattles at night");
  await page.getByLabel("Priority").selectOption("P2");
  // Required custom field left empty: the form says so and nothing is created.
  await page.getByRole("button", { name: "Create ticket" }).click();
  await page.locator("#message").filter({ hasText: "Floor" }).waitFor();
  await page.getByLabel("Floor *").fill("3");
  await everyControlLabelled(page, "new ticket");
  await shots(page, "new-ticket");
  // The second time by keyboard: Enter in the field just filled submits the form.
  await page.getByLabel("Floor *").press("Enter");
  await page.waitForURL(/\/ticket\?id=/);
  await ready(page, "truckrollTicket");
  const created = await page.evaluate(() => window.truckrollTicket.ticket);
  assert.equal(created.custom_fields.floor, 3);
  assert.equal(created.custom_fields.refrigerant, "R32");
  assert.equal(await page.locator("#cf-floor").inputValue(), "3");
  await everyControlLabelled(page, "ticket");
  await shots(page, "ticket");

  // Found again from the queue's search box, by a word of its title.
  await page.goto(`${base}/tickets`);
  await ready(page, "truckrollQueue");
  await page.getByLabel("Search").fill("rattles");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator(`#rows tr[data-number="${created.number}"]`).waitFor();
  assert.equal(await page.locator("#rows tr[data-ticket-id]").count(), 1);
  // …by its number, and by a word of one of its comments, best match first.
  await page.getByLabel("Search").fill(created.number);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator(`#rows tr[data-number="${created.number}"]`).waitFor();
  await page.goto(`${base}/ticket?id=${created.id}`);
  await ready(page, "truckrollTicket");
  await page.getByLabel("Comment", { exact: true }).fill("The compressor mounts are loose; bring dampers.");
  await page.getByRole("button", { name: "Add comment" }).click();
  await page.locator("#comment-message").filter({ hasText: "Comment added." }).waitFor();
  await page.goto(`${base}/tickets?q=dampers&sort=relevance`);
  await ready(page, "truckrollQueue");
  await page.locator(`#rows tr[data-number="${created.number}"]`).waitFor();
  assert.equal(await page.locator("#rows tr[data-ticket-id]").count(), 1);
  await page.goto(`${base}/tickets`);
  await ready(page, "truckrollQueue");
  // Times are the tenant's: the admin moves the company to Shanghai (UTC+8).
  const zone = await fetch(`${base}/v1/tenant`, {
    method: "PATCH",
    headers: { "content-type": "application/json", authorization: `Bearer ${env("ADMIN_TOKEN")}` },
    body: JSON.stringify({ time_zone: "Asia/Shanghai" }),
  });
  assert.equal(zone.status, 200, await zone.text());
  await page.reload();
  await ready(page, "truckrollQueue");
  const shown = await page.locator(`#rows tr[data-number="${created.number}"] td`).last().innerText();
  const [inShanghai, inUtc] = await page.evaluate((at) => ["Asia/Shanghai", "UTC"].map((timeZone) =>
    new Intl.DateTimeFormat("en", { timeZone, dateStyle: "medium", timeStyle: "short" }).format(new Date(at))), created.created_at);
  assert.equal(shown, inShanghai);
  assert.notEqual(shown, inUtc);

  // ---- bulk-assign five tickets, a result per ticket -------------------------
  await page.getByLabel("Search").fill("Bulk job");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#rows tr[data-ticket-id]").length === 5);
  await page.getByLabel("Select all on this page").check();
  await page.locator("#bulk-technician").selectOption({ label: env("TECHNICIAN_NAME") });
  await page.getByRole("button", { name: "Assign selected" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#bulk-results li.ok").length === 5);
  const results = await page.locator("#bulk-results li").allInnerTexts();
  assert.equal(results.length, 5);
  for (const line of results) assert.match(line, /^TR-\d+: done \(Assigned\)$/);
  await shots(page, "queue-bulk");

  // ---- a customer's new name shows on the ticket page ------------------------
  await page.goto(`${base}/ticket?id=${created.id}`);
  await ready(page, "truckrollTicket");
  const customerFact = page.locator('dd[data-fact="ticket.customer"]');
  assert.match(await customerFact.innerText(), new RegExp(env("CUSTOMER_NAME")));
  // Renamed on the master-data page…
  await page.goto(`${base}/admin?kind=customers`);
  await ready(page, "truckrollAdmin");
  await everyControlLabelled(page, "customers");
  await page.getByRole("button", { name: `Edit ${env("CUSTOMER_NAME")}` }).click();
  await page.getByLabel("Name *").fill("Acme Cold Storage GmbH");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.locator('#rows tr[data-name="Acme Cold Storage GmbH"]').waitFor();
  await shots(page, "admin-customers");
  await page.goto(`${base}/admin?kind=sites`);
  await ready(page, "truckrollAdmin");
  await page.locator("#small-map .site-pin").first().waitFor();
  await shots(page, "admin-sites");
  // Every master-data page renders, labelled, at both widths.
  for (const kind of ["assets", "categories", "technicians", "users", "sla", "territories", "templates", "tenant"]) {
    await page.goto(`${base}/admin?kind=${kind}`);
    await ready(page, "truckrollAdmin");
    await everyControlLabelled(page, `admin ${kind}`);
    await shots(page, `admin-${kind}`);
    if (kind === "technicians") {
      // Editing a technician shows their phones, read-only.
      await page.locator("#rows tr[data-id] button").first().click();
      await page.locator("#devices-title").waitFor();
      await shots(page, "admin-technician-devices");
    }
  }
  // The queue's SLA view and priority order come from the server.
  await page.goto(`${base}/tickets?sla=at_risk&sort=priority`);
  await ready(page, "truckrollQueue");
  assert.equal(await page.locator("#message").textContent(), "", "the SLA view loads");
  await page.goto(`${base}/reports`);
  await page.waitForFunction(() => window.truckrollReports?.report !== null);
  await shots(page, "reports");
  // …and the ticket page shows the new name.
  await page.goto(`${base}/ticket?id=${created.id}`);
  await ready(page, "truckrollTicket");
  await customerFact.filter({ hasText: "Acme Cold Storage GmbH" }).waitFor();

  // ---- a stale edit is refused and explained ---------------------------------
  const other = await page.context().newPage();
  current = other;
  const stored = await page.evaluate(() => sessionStorage.getItem("truckroll.session"));
  await other.addInitScript((value) => sessionStorage.setItem("truckroll.session", value), stored);
  await other.goto(`${base}/ticket?id=${created.id}`);
  await ready(other, "truckrollTicket");
  // The second page starts editing (its version is the one it read)…
  await other.getByLabel("Title").fill("Compressor rattles at night (second page)");
  // …the first page saves a change…
  await page.bringToFront();
  current = page;
  await page.getByLabel("Priority").selectOption("P1");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.locator("#header-message").filter({ hasText: "Saved." }).waitFor();
  // …the second page learns of it from the live stream (not the 30 s poll)…
  await other.waitForFunction(() => window.truckrollTicket.live.events > 0);
  await other.locator("#notice").filter({ hasText: "changed elsewhere" }).waitFor();
  // …and the second page's save is refused with the reason.
  await other.bringToFront();
  current = other;
  await other.getByRole("button", { name: "Save changes" }).click();
  const alert = other.locator("#message");
  await alert.filter({ hasText: "someone changed this ticket since you opened it" }).waitFor();
  assert.match(await alert.innerText(), /reload it and try again/);
  await alert.getByRole("button", { name: "Reload" }).waitFor();
  const after = await (await fetch(`${base}/v1/tickets/${created.id}`, { headers: { authorization: `Bearer ${env("ADMIN_TOKEN")}` } })).json();
  assert.equal(after.title, "Compressor rattles at night", "the stale title was not written");
  assert.equal(after.priority, "P1");
  await shots(other, "ticket-conflict");
  await other.close();
  current = page;

  // ---- Chinese: the queue in Chinese, a Chinese title found by a word ---------
  await page.goto(`${base}/tickets`);
  await ready(page, "truckrollQueue");
  await Promise.all([page.waitForEvent("framenavigated"), page.getByLabel("Language").selectOption("zh-CN")]);
  await page.locator("#page-title").filter({ hasText: "工单" }).waitFor();
  await ready(page, "truckrollQueue");
  assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
  await page.getByLabel("搜索").fill("维修");
  await page.getByRole("button", { name: "筛选" }).click();
  await page.locator("#rows tr[data-ticket-id]").filter({ hasText: env("CHINESE_TITLE") }).waitFor();
  assert.equal(await page.locator("#rows tr[data-ticket-id]").count(), 1);
  await page.locator("#rows .badge").first().filter({ hasText: "新建" }).waitFor();
  await shots(page, "queue-zh");
  await page.goto(`${base}/ticket?id=${env("CHINESE_TICKET_ID")}`);
  await ready(page, "truckrollTicket");
  await page.getByRole("heading", { name: "评论" }).waitFor();
  await shots(page, "ticket-zh");
  await page.goto(`${base}/tickets/new`);
  await ready(page, "truckrollNewTicket");
  await shots(page, "new-ticket-zh");
  // The choice is the user's, kept by the server.
  const me = await page.evaluate(() => window.TruckrollSession.api("/v1/me"));
  assert.equal(me.locale, "zh-CN");

  // ---- a technician lands on their own page ----------------------------------
  const technician = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const techPage = await technician.newPage();
  current = techPage;
  await techPage.goto(`${base}/`);
  await techPage.getByLabel("Company").fill(env("TENANT"));
  await techPage.getByLabel("Email").fill(env("TECHNICIAN_EMAIL"));
  await techPage.getByLabel("Password").fill(password);
  await techPage.getByRole("button", { name: "Sign in" }).click();
  await techPage.waitForURL(`${base}/technician`);
  await ready(techPage, "truckrollTechnician");
  await techPage.getByText("phone app").waitFor();
  // Their five bulk-assigned jobs, read-only.
  assert.equal(await techPage.locator("#rows tr[data-ticket-id]").count(), 5);
  await shots(techPage, "technician");
  // The map is not theirs: /dispatch sends them back.
  await techPage.goto(`${base}/dispatch`);
  await techPage.waitForURL(`${base}/technician`);
  await technician.close();
  current = page;
} catch (error) {
  console.error(`FAILED: ${error.stack || error}`);
  await screenshot(current, `${artifacts}/console.failure.png`).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
