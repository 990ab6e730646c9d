// Shared by the browser scripts: launch Debian's Chromium headless through
// Playwright, sign in through the page, fail loudly with a screenshot.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Environment variable `name`, or fail. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`console: ${message.text()}`);
  });
  return { browser, page };
}

export async function signIn(page, base, tenant, email, password, next) {
  await page.goto(`${base}/?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Company").fill(tenant);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}${next}`);
}

export async function screenshot(page, path) {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: false });
  console.log(`screenshot: ${path}`);
}

/**
 * A `shots(page, name)` that writes full-page screenshots at 1024 and 1440 px
 * wide as `<dir>/<prefix>-<name>-<width>.png`.
 */
export function shooter(dir, prefix, height = 900) {
  return async (page, name) => {
    for (const width of [1024, 1440]) {
      await page.setViewportSize({ width, height });
      await page.waitForTimeout(50);
      const path = `${dir}/${prefix}-${name}-${width}.png`;
      await page.screenshot({ path, fullPage: true });
      console.log(`screenshot: ${path}`);
    }
  };
}

/** Every focusable control has an accessible name (label, aria-label or text). */
export async function everyControlLabelled(page, what) {
  const unlabelled = await page.evaluate(() => {
    const out = [];
    for (const node of document.querySelectorAll("input, select, textarea, button, a[href]")) {
      if (node.type === "hidden" || node.closest("[hidden]")) continue;
      const labelled = node.getAttribute("aria-label") || node.getAttribute("aria-labelledby")
        || (node.id && document.querySelector(`label[for="${node.id}"]`)) || node.closest("label")
        || (["BUTTON", "A"].includes(node.tagName) && node.textContent.trim());
      if (!labelled) out.push(node.outerHTML.slice(0, 120));
    }
    return out;
  });
  assert.deepEqual(unlabelled, [], `${what}: controls without a label`);
}

/** Runs `steps(page)`; on failure saves `<artifact>.failure.png` and exits 1. */
export async function run(artifact, steps) {
  const { browser, page } = await launch();
  try {
    await steps(page);
  } catch (error) {
    console.error(`FAILED: ${error.stack || error}`);
    const model = await page
      .evaluate(() => {
        const s = window.truckrollDispatch;
        if (!s) return "no page model";
        return JSON.stringify({
          url: location.href,
          size: s.map?.getSize(),
          bounds: s.map?.getBounds().toBBoxString(),
          technicians: [...s.technicians.values()],
          recent: s.recent,
          tickets: [...s.tickets.values()].map((t) => ({ id: t.id, status: t.status, assignee_id: t.assignee_id })),
        });
      })
      .catch((e) => `page model unavailable: ${e.message}`);
    console.error(`page model: ${model}`);
    await screenshot(page, artifact.replace(/\.png$/, ".failure.png")).catch(() => {});
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
