// Debian's Chromium driven by playwright-core, headless, in a fresh profile.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { makeTempDir, REPO_ROOT } from "./local-backend.mjs";

export const CHROMIUM = process.env.ARKOR_CHROMIUM || "/usr/bin/chromium";
/** Where the browser tests leave their screenshots (git-ignored). */
export const ARTIFACTS = join(REPO_ROOT, "__test__", "artifacts");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser context and a page that records console errors and failed requests. */
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) or point ARKOR_CHROMIUM at a Chromium`);
  }
  const { chromium } = await import("playwright-core");
  const context = await chromium.launchPersistentContext(makeTempDir("arkor-chromium-"), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on("console", (m) => {
    // A failed fetch is reported below with its URL.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Anything not from Studio itself would be a request to the network.
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (!["127.0.0.1", "localhost"].includes(u.hostname) && u.protocol !== "data:") problems.push(`off-box request: ${r.url()}`);
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return { context, page, problems, shot: (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) }) };
}
