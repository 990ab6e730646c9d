// The manager's SLA report page end to end: sign in as a manager, ask for a
// known month by category, read the hand-computed numbers in the table, see
// both chart canvases drawn, download the CSV and check its rows. Set up by
// tests/tests/web/browser.rs (manager_reads_the_sla_report).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { env, run, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifact = env("ARTIFACT");

await run(artifact, async (page) => {
  await signIn(page, base, env("TENANT"), env("MANAGER_EMAIL"), env("PASSWORD"), "/reports");

  await page.getByLabel("From").fill(env("FROM"));
  await page.getByLabel("To (inclusive)").fill(env("TO"));
  await page.getByLabel("Group by").selectOption("category");
  await page.getByRole("button", { name: "Show" }).click();

  // The table: one row per category with the hand-computed figures.
  const hvac = page.locator('#report tbody tr[data-key="hvac"]');
  const plumbing = page.locator('#report tbody tr[data-key="plumbing"]');
  await hvac.waitFor();
  await plumbing.waitFor();
  const cells = async (row) => (await row.locator("th, td").allInnerTexts()).map((t) => t.trim());
  assert.deepEqual(await cells(hvac), [
    "hvac", "2", "2", "50.0 %", "50.0 %", "100.0 %", "30 min", "2 h 00 min", "7 h 00 min", "0 / 0 / 0", "0", "100.0 %",
  ]);
  assert.deepEqual(await cells(plumbing), [
    "plumbing", "1", "1", "0.0 %", "0.0 %", "0.0 %", "–", "–", "–", "1 / 1 / 1", "1", "–",
  ]);

  // Both charts drawn on their canvases, fed with the report's attainment.
  for (const id of ["attainment-chart", "backlog-chart"]) {
    const canvas = page.locator(`#${id}`);
    await canvas.waitFor({ state: "visible" });
    const box = await canvas.boundingBox();
    assert.ok(box.width > 100 && box.height > 100, `${id} is drawn: ${JSON.stringify(box)}`);
  }
  const charted = await page.evaluate(() => {
    const chart = window.truckrollReports.charts["attainment-chart"];
    return { labels: chart.data.labels, data: chart.data.datasets.map((d) => [d.label, d.data]) };
  });
  assert.deepEqual(charted, {
    labels: ["hvac", "plumbing"],
    data: [["response", [50, 0]], ["arrival", [50, 0]], ["resolution", [100, 0]]],
  });
  // Pixels were painted (not a blank canvas).
  const painted = await page.evaluate(() => {
    const canvas = document.getElementById("attainment-chart");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 0) coloured++;
    return coloured;
  });
  assert.ok(painted > 1000, `attainment chart painted ${painted} pixels`);

  // The CSV download: the API's CSV, one line per group.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download CSV" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^sla-report-.*-by-category\.csv$/);
  const csvPath = artifact.replace(/\.png$/, ".csv");
  await download.saveAs(csvPath);
  const lines = readFileSync(csvPath, "utf8").trim().split(/\r?\n/).map((l) => l.split(","));
  const header = lines[0];
  const column = (row, name) => row[header.indexOf(name)];
  assert.equal(lines.length, 3, `header and two groups: ${JSON.stringify(lines)}`);
  const [hvacRow, plumbingRow] = [lines[1], lines[2]];
  assert.deepEqual(hvacRow.slice(0, 5), ["category", "hvac", "2", "2", "0"]);
  assert.deepEqual(plumbingRow.slice(0, 5), ["category", "plumbing", "1", "1", "1"]);
  assert.equal(column(hvacRow, "response_attainment_pct"), "50");
  assert.equal(column(hvacRow, "response_median_seconds"), "1800");
  assert.equal(column(hvacRow, "resolution_p90_seconds"), "25200");
  assert.equal(column(plumbingRow, "resolution_breached"), "1");
  assert.equal(column(plumbingRow, "backlog_over_7d"), "1");

  await screenshot(page, artifact);
  console.log("reports page: all steps passed");
});
