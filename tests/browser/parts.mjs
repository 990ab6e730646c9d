// The parts and stock page end to end (issue 23): sign in as a dispatcher,
// find a part, record a transfer into a technician's van with the keyboard,
// see the balances and the ledger move, import a CSV with a bad line and
// read its line errors, switch to Simplified Chinese. Set up by
// tests/tests/web/parts.rs; screenshots at 1024 px in both languages.
import assert from "node:assert/strict";
import { env, run, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");

async function fullPage(page, path) {
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

await run(`${artifacts}/parts-en-1024.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), "/parts");
  await page.waitForFunction(() => window.truckrollParts?.ready);

  // Every key has both languages.
  const [en, zh] = await page.evaluate(() => [window.TruckrollI18n.keys("en"), window.TruckrollI18n.keys("zh-CN")]);
  assert.deepEqual(en.filter((k) => !zh.includes(k)), []);

  // The catalogue, and a search.
  const catalogue = page.locator("#catalogue-rows");
  await catalogue.locator("tr").first().waitFor();
  assert.match(await catalogue.innerText(), /CR-24\s+compressor relay/);
  await page.getByLabel("Find a part").fill("fan");
  await page.getByLabel("Find a part").press("Enter");
  await page.waitForFunction(() => document.querySelectorAll("#catalogue-rows tr").length === 1);
  assert.match(await catalogue.innerText(), /FAN-220/);

  // The negative van balance is flagged.
  const negative = page.locator("#balance-rows tr.negative");
  await negative.waitFor();
  assert.match(await negative.innerText(), /below zero/);

  // A transfer from the depot into Ada's van, by keyboard only.
  await page.getByLabel("Kind").selectOption("transfer");
  await page.getByLabel("Part", { exact: true }).selectOption({ label: "CR-24 · compressor relay" });
  await page.getByLabel("From").selectOption({ label: "Depot (warehouse)" });
  await page.getByLabel("To", { exact: true }).selectOption({ label: env("VAN_NAME") + " (van)" });
  await page.getByLabel("Quantity").fill("2");
  await page.getByLabel("Reason").fill("morning stock-up");
  await page.getByLabel("Reason").press("Enter");
  await page.getByText("Movement recorded.").waitFor();
  // The ledger and the balances are read again after the answer: wait for them.
  const ledger = page.locator("#movement-rows tr").first();
  await ledger.filter({ hasText: "morning stock-up" }).waitFor();
  assert.match(await ledger.innerText(), /Transfer[\s\S]*CR-24 compressor relay[\s\S]*Depot[\s\S]*morning stock-up/);
  const vanRow = new RegExp(`${env("VAN_NAME")}\\s+CR-24\\s+compressor relay\\s+1 pcs`);
  await page.waitForFunction((source) => new RegExp(source).test(document.getElementById("balance-rows").innerText), vanRow.source);
  assert.match(await page.locator("#balance-rows").innerText(), vanRow);

  // A CSV with a bad line: nothing imported, the line named.
  await page.getByText("Import a CSV").click();
  await page.getByLabel("CSV file").setInputFiles({
    name: "parts.csv",
    mimeType: "text/csv",
    buffer: Buffer.from("number,name,unit,price,cost,barcode,serial_tracked\nGOOD-1,good,pcs,1.00,0.50,,false\n,no number,pcs,1,1,,false\n"),
  });
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await page.locator("#import-errors li").first().waitFor();
  assert.match(await page.locator("#import-errors").innerText(), /line 3: number/);
  await fullPage(page, `${artifacts}/parts-en-1024.png`);

  // 简体中文.
  await Promise.all([page.waitForEvent("framenavigated"), page.getByLabel("Language").selectOption("zh-CN")]);
  await page.waitForFunction(() => window.truckrollParts?.ready);
  assert.equal(await page.locator("h2").first().innerText(), "备件与库存");
  assert.equal(await page.locator("#balances-heading").innerText(), "库存余额");
  assert.match(await page.locator("#movement-rows").innerText(), /调拨/);
  await fullPage(page, `${artifacts}/parts-zh-1024.png`);
});
