// The automation page end to end (set up by tests/tests/web/automation.rs):
// an admin writes "P1 from a gold-tier customer → team Senior, notify the
// supervisor" in the rule editor (a broken definition first: the refusal is
// shown field by field), creates such a ticket in the console, sees the
// rule's record in the ticket's timeline, dry-runs the rule on it; the
// supervisor finds the notification, in English and in Chinese.
// Screenshots at 1024 and 1440 px.
import assert from "node:assert/strict";
import { env, everyControlLabelled, launch, shooter, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const shots = shooter(artifacts, "automation");
const password = env("PASSWORD");
const ruleName = "P1 gold to Senior";

const ready = (page, model) => page.waitForFunction((m) => window[m]?.ready === true, model);

const definition = {
  events: ["ticket_created"],
  conditions: { all: [
    { field: "priority", op: "eq", value: "P1" },
    { field: "customer.tier", op: "in", value: ["gold", "platinum"] },
  ] },
  actions: [
    { type: "set_team", team_id: env("TEAM_ID") },
    { type: "notify", user_ids: [env("SUPERVISOR_ID")], title: "P1 {{ticket.number}} from a {{customer.tier}} customer" },
  ],
};

const { browser, page } = await launch();
try {
  // ---- the admin writes the rule ---------------------------------------------
  await signIn(page, base, env("TENANT"), env("ADMIN_EMAIL"), password, "/automation");
  await ready(page, "truckrollAutomation");
  await everyControlLabelled(page, "automation");
  const [en, zh] = await page.evaluate(() => [window.TruckrollI18n.keys("en"), window.TruckrollI18n.keys("zh-CN")]);
  assert.deepEqual([...zh].sort(), [...en].sort(), "the Chinese dictionary lacks or adds keys");
  // The Senior team is listed with the id rules name it by.
  await page.locator("#team-rows").filter({ hasText: "Senior" }).waitFor();

  await page.getByLabel("Rule name").fill(ruleName);
  // A broken definition: the schema's refusal is shown, nothing saved.
  await page.getByLabel(/^Definition/).fill(JSON.stringify({ events: ["ticket_exploded"], actions: [] }));
  await page.getByRole("button", { name: "Save rule" }).click();
  await page.locator("#errors li").first().waitFor();
  const errors = await page.locator("#errors").innerText();
  assert.match(errors, /definition\/events/, errors);
  await shots(page, "editor-refused");
  assert.equal((await page.evaluate(() => window.truckrollAutomation.rules.length)), 0);

  // Keyboard: the definition is reachable with Tab from the name.
  await page.getByLabel("Rule name").focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "rule-definition");

  await page.getByLabel(/^Definition/).fill(JSON.stringify(definition, null, 2));
  await page.getByRole("button", { name: "Save rule" }).click();
  await page.locator("#saved").filter({ hasText: ruleName }).waitFor();
  await page.locator("#rule-rows").filter({ hasText: ruleName }).waitFor();
  assert.equal(await page.locator("#errors li").count(), 0);
  await shots(page, "rules");

  // ---- a P1 ticket for the gold customer, created in the console ---------------
  await page.goto(`${base}/tickets/new`);
  await ready(page, "truckrollNewTicket");
  await page.getByLabel("Find a customer").fill("Gold");
  await page.getByLabel("Customer", { exact: true }).selectOption({ label: env("CUSTOMER_NAME") });
  await page.getByLabel("Category").selectOption("repair");
  await page.getByLabel("Title").fill("Chiller down in the cold store");
  await page.getByLabel("Priority").selectOption("P1");
  await page.getByRole("button", { name: "Create ticket" }).click();
  await page.waitForURL(/\/ticket\?id=/);
  await ready(page, "truckrollTicket");
  const number = await page.evaluate(() => window.truckrollTicket.ticket.number);
  // The rule's record and the transfer are in the timeline.
  await page.locator("#timeline").filter({ hasText: `rule "${ruleName}" fired` }).waitFor();
  await page.locator("#timeline").filter({ hasText: "team → Senior" }).waitFor();
  await shots(page, "ticket-timeline");

  // ---- the dry run of the editor's rule on that ticket writes nothing ----------
  await page.goto(`${base}/automation`);
  await ready(page, "truckrollAutomation");
  await page.getByRole("button", { name: `Edit ${ruleName}` }).click();
  await page.getByLabel("Ticket number").fill(number);
  await page.getByLabel("Event", { exact: true }).selectOption("ticket_created");
  await page.getByRole("button", { name: "Dry run", exact: true }).click();
  await page.locator("#dry-result").filter({ hasText: `1 rule(s) would fire on ${number}` }).waitFor();
  await shots(page, "dry-run");

  // ---- the supervisor is told ---------------------------------------------------
  await page.evaluate(() => sessionStorage.clear());
  await signIn(page, base, env("TENANT"), env("SUPERVISOR_EMAIL"), password, "/automation");
  await ready(page, "truckrollAutomation");
  await page.locator("#notifications").filter({ hasText: `P1 ${number} from a gold customer` }).waitFor();
  assert.equal(await page.locator("#rules-card").isHidden(), true, "rules are for admins");
  await everyControlLabelled(page, "notifications");
  await shots(page, "notifications");
  await page.getByRole("button", { name: "Mark read" }).click();
  await page.locator("#unread").filter({ hasText: "(0 unread)" }).waitFor();

  // ---- in Chinese ------------------------------------------------------------------
  await page.locator("#language").selectOption("zh-CN");
  await page.waitForLoadState("load");
  await ready(page, "truckrollAutomation");
  await page.getByRole("heading", { name: "自动化" }).waitFor();
  await page.locator("#notifications-title").filter({ hasText: "我的通知" }).waitFor();
  await shots(page, "notifications-zh");
  console.log("automation page: ok");
} catch (error) {
  await page.screenshot({ path: `${artifacts}/automation-failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
