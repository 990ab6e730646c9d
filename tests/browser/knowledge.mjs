// The knowledge base in Chromium (set up by tests/tests/web/knowledge.rs):
// an article whose Markdown holds <script>, an onerror image and a
// javascript: link renders harmless; a dispatcher typing a new ticket sees
// the right article suggested and the open ticket it duplicates, creates it
// anyway and merges it into that one from its page; the ticket page lists
// related articles and inserts one's link into the reply; an edit and a revert through the
// editor; the page in Simplified Chinese. Screenshots at 1024 and 1440 px.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { env, run, signIn } from "./harness.mjs";

const base = env("TRUCKROLL_URL");
const artifacts = env("ARTIFACTS");
const hostile = env("HOSTILE_ID");
const procedure = env("PROCEDURE_ID");
const ticket = env("TICKET_ID");
mkdirSync(artifacts, { recursive: true });

async function shots(page, name) {
  for (const width of [1024, 1440]) {
    await page.setViewportSize({ width, height: 900 });
    const path = `${artifacts}/knowledge-${name}-${width}.png`;
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
  }
}

await run(`${artifacts}/knowledge.png`, async (page) => {
  await page.setViewportSize({ width: 1024, height: 900 });
  await signIn(page, base, env("TENANT"), env("DISPATCHER_EMAIL"), env("PASSWORD"), `/knowledge?id=${hostile}`);
  await page.waitForFunction(() => window.truckrollKnowledge?.ready === true);
  // Harmless: nothing ran, no element that can run script, the link has no address.
  assert.equal(await page.evaluate(() => window.pwned), undefined, "script from Markdown ran");
  assert.equal(await page.locator("#kb-body script, #kb-body img, #kb-body iframe").count(), 0);
  assert.equal(await page.locator("#kb-body a[href^='javascript' i], #kb-body a[href^='data' i]").count(), 0);
  assert.match(await page.locator("#kb-body").innerText(), /<script>window\.pwned = 1<\/script>/);
  await page.locator("#kb-body a", { hasText: "click me" }).click();
  assert.equal(await page.evaluate(() => window.pwned), undefined, "the javascript: link ran");
  assert.match(await page.locator("#kb-body a", { hasText: "manual" }).getAttribute("href"), /^https:\/\/example\.com\//);
  await shots(page, "hostile");

  // Edit by keyboard through the editor, then restore version 1.
  await page.goto(`${base}/knowledge?id=${procedure}`);
  await page.waitForFunction(() => window.truckrollKnowledge?.ready === true);
  await page.locator("#kb-edit-button").focus();
  await page.keyboard.press("Enter");
  await page.locator("#kb-body-input").fill("# Procedure\n\n1. Clean the condenser\n2. **Check the fan motor**");
  await page.locator("#kb-form button[type=submit]").focus();
  await page.keyboard.press("Enter");
  await page.locator("#kb-body strong", { hasText: "Check the fan motor" }).waitFor();
  assert.match(await page.locator("#kb-view-meta").innerText(), /version 2/);
  await page.getByRole("button", { name: "Restore version 1" }).click();
  await page.locator("#kb-view-meta", { hasText: "version 3" }).waitFor();
  assert.equal(await page.locator("#kb-body strong").count(), 0);
  // The history is read after the article: wait for its third entry.
  await page.locator("#kb-versions li").nth(2).waitFor();
  assert.equal(await page.locator("#kb-versions li").count(), 3);
  await page.getByRole("button", { name: "Yes" }).click();
  await page.locator("#kb-votes", { hasText: "1 found this helpful" }).waitFor();
  // Attach a PDF; it is listed with a working download link.
  await page.locator("#kb-file").setInputFiles({ name: "wiring diagram.pdf", mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n") });
  await page.locator("#kb-attach").click();
  const attached = page.locator("#kb-attachments li[data-attachment] a", { hasText: "wiring diagram.pdf" });
  await attached.waitFor();
  const download = await page.request.get(await attached.getAttribute("href"));
  assert.equal(download.status(), 200);
  assert.match(await download.text(), /^%PDF-1\.4/);
  await shots(page, "article");

  // The dispatcher types a new ticket: the chiller procedure is suggested
  // first and the open ticket at the same site shows as a likely duplicate.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.goto(`${base}/tickets/new`);
  await page.waitForFunction(() => window.truckrollNewTicket?.ready === true);
  await page.locator("#category").selectOption("hvac");
  await page.locator("#title").fill("Chiller trips every noon");
  await page.locator("#description").fill("high pressure alarm on the rooftop unit");
  await page.waitForFunction((id) => document.querySelector("#kb-suggestion-list li")?.dataset.article === id, procedure);
  assert.match(await page.locator("#kb-suggestion-list li").first().innerText(), /Chiller high-pressure trip/);
  await page.waitForFunction((id) => document.querySelector("#duplicate-list li")?.dataset.ticket === id, ticket);
  assert.match(await page.locator("#duplicate-list li").first().innerText(), /same site/);
  await shots(page, "new-ticket");
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.getByRole("button", { name: "Create ticket" }).click();
  await page.waitForURL(/\/ticket\?id=/);

  // On the new ticket, merge it into the one it duplicates.
  const merge = page.locator(`#ticket-duplicate-list li[data-ticket="${ticket}"] button.merge`);
  await merge.waitFor();
  await shots(page, "duplicate");
  await page.setViewportSize({ width: 1024, height: 900 });
  await merge.click();
  await page.locator("#merge-message", { hasText: "Merged into" }).waitFor();

  // The ticket page: related articles, and a link put into the reply.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.goto(`${base}/ticket?id=${ticket}`);
  await page.locator(`#kb-related-list li[data-article="${procedure}"]`).waitFor();
  await page.locator(`#kb-related-list li[data-article="${procedure}"] .kb-insert`).click();
  assert.match(await page.locator("#comment-body").inputValue(), new RegExp(`/knowledge\\?id=${procedure}`));
  // Find any article by its words and insert its text into the reply.
  await page.locator("#kb-find").fill("chiller");
  await page.locator(`#kb-find-list li[data-article="${procedure}"] .kb-insert-text`).click();
  await page.waitForFunction((id) => window.truckrollKnowledgePanel?.inserted === id, procedure);
  assert.match(await page.locator("#comment-body").inputValue(), /1\. Clean the condenser/);
  await shots(page, "ticket");

  // "Create article from this ticket": the editor opens prefilled with the
  // problem and the resolution; saved as a new article.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.locator("#kb-from-ticket").focus();
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/knowledge\?from_ticket=/);
  await page.waitForFunction(() => window.truckrollKnowledge?.drafted !== undefined);
  assert.equal(await page.locator("#kb-title").inputValue(), "Chiller trips at noon");
  assert.match(await page.locator("#kb-body-input").inputValue(), /## Resolution/);
  assert.match(await page.locator("#kb-form-message").innerText(), /Drafted from ticket/);
  await shots(page, "from-ticket");
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.locator("#kb-form button[type=submit]").click();
  await page.locator("#kb-view-title", { hasText: "Chiller trips at noon" }).waitFor();
  assert.match(await page.locator("#kb-view-meta").innerText(), /version 1/);

  // Simplified Chinese.
  await page.goto(`${base}/knowledge?id=${procedure}`);
  await page.waitForFunction(() => window.truckrollKnowledge?.ready === true);
  await Promise.all([page.waitForEvent("load"), page.locator("#language").selectOption("zh-CN")]);
  await page.waitForFunction(() => window.truckrollKnowledge?.ready === true);
  assert.equal(await page.locator("main h2").innerText(), "知识库");
  assert.match(await page.locator("#kb-view-meta").innerText(), /第 3 版/);
  await shots(page, "zh");
});
