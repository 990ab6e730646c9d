// Archiving from the master-data page (set up by tests/tests/web/console.rs):
// a site with an open ticket is refused with the API's reason; a site
// without one is archived, listed under "Archived" and restored.
import assert from "node:assert/strict";
import { env, run, screenshot, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");

await run(`${artifacts}/console-admin-archive.png`, async (page) => {
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), "/admin?kind=sites");
  await page.waitForFunction(() => window.truckrollAdmin?.ready === true);
  const row = (name) => page.locator(`#rows tr[data-name="${name}"]`);
  await row("Busy depot").waitFor();
  await row("Quiet depot").waitFor();

  // Refused: an open ticket still refers to it; the page says why.
  await page.getByRole("button", { name: "Archive Busy depot" }).click();
  const message = page.locator("#message");
  await message.filter({ hasText: "Refused:" }).waitFor();
  assert.ok((await message.innerText()).length > "Refused: ".length, "the reason is shown");
  await row("Busy depot").waitFor();
  await screenshot(page, `${artifacts}/console-admin-archive-refused.png`);

  // Done: gone from the active list, listed as archived, restorable.
  await page.getByRole("button", { name: "Archive Quiet depot" }).click();
  await message.filter({ hasText: "Quiet depot archived." }).waitFor();
  await row("Quiet depot").waitFor({ state: "detached" });
  await page.getByLabel("Show").selectOption("true");
  await row("Quiet depot").waitFor();
  await page.getByRole("button", { name: "Restore Quiet depot" }).click();
  await message.filter({ hasText: "Quiet depot restored." }).waitFor();
  await page.getByLabel("Show").selectOption("false");
  await row("Quiet depot").waitFor();
  await screenshot(page, `${artifacts}/console-admin-archive.png`);
});
