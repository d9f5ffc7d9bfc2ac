"use strict";

// `GET /api/manifest`: what the project's `createArkor({...})` holds, as
// `{ trainer: { name } | null }`. Each call rebuilds src/arkor/index.ts, so
// edits show without restarting Studio.

const { createHash } = require("node:crypto");
const { existsSync } = require("node:fs");
const { readFile, readdir, rename, rm, writeFile } = require("node:fs/promises");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const { runBuild } = require("../cli/commands/build.js");
const { isArkor } = require("../manifest.js");

const SNAPSHOT = /^index\.[0-9a-f]{16}\.mjs$/;

// Node also caches a failed evaluation per URL. A bundle that threw for a
// reason outside it (a file it reads was missing) gets a fresh URL on the
// next request, counted per snapshot.
const failures = new Map();

/**
 * Builds and imports the project's entry. The import goes through a copy
 * named by the bundle's hash: Node caches a module per URL forever, so one
 * URL per distinct build (not per request) keeps a long session from
 * piling up modules, and a copy of the hashed bytes cannot change under
 * the import the way the rebuilt index.mjs can.
 */
async function readManifestSummary(cwd) {
  const { outFile } = await runBuild({ cwd, quiet: true });
  const bytes = await readFile(outFile);
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = path.dirname(outFile);
  const snapshot = path.join(dir, `index.${digest}.mjs`);
  if (!existsSync(snapshot)) {
    for (const name of await readdir(dir)) {
      if (SNAPSHOT.test(name) && name !== path.basename(snapshot)) await rm(path.join(dir, name), { force: true });
    }
    const tmp = `${snapshot}.${process.pid}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, snapshot);
  }
  const href = pathToFileURL(snapshot).href;
  const tries = failures.get(href) ?? 0;
  let mod;
  try {
    mod = await import(tries ? `${href}?r=${tries}` : href);
  } catch (err) {
    failures.set(href, tries + 1);
    throw err;
  }
  const candidate = mod.arkor ?? mod.default;
  if (!isArkor(candidate)) return { trainer: null };
  return { trainer: candidate.trainer ? { name: candidate.trainer.name } : null };
}

module.exports = { readManifestSummary };
