"use strict";

// `arkor build [entry]`: bundle the project's training entry into one ESM
// file, `.arkor/build/index.mjs`.

const { existsSync } = require("node:fs");
const { mkdir } = require("node:fs/promises");
const path = require("node:path");

const { DEFAULT_ENTRY, bundleEntry } = require("../../bundle.js");
const DEFAULT_OUT_DIR = ".arkor/build";

/**
 * Bundle `entry` (default `src/arkor/index.ts`, relative to `cwd`) into
 * `.arkor/build/index.mjs` (see lib/bundle.js). Resolves `{ entry, outFile }`
 * (absolute).
 */
async function runBuild(opts = {}) {
  const cwd = opts.cwd || process.cwd();
  const entry = path.resolve(cwd, opts.entry || DEFAULT_ENTRY);
  if (!existsSync(entry)) {
    const err = new Error(
      `Build entry not found: ${entry}. Create ${DEFAULT_ENTRY} or pass an explicit entry argument.`,
    );
    err.code = "ARKOR_ENTRY_NOT_FOUND";
    throw err;
  }
  const outDir = path.resolve(cwd, opts.outDir || DEFAULT_OUT_DIR);
  await mkdir(outDir, { recursive: true });
  const outFile = path.join(outDir, "index.mjs");

  await bundleEntry(entry, outFile);

  if (!opts.quiet) {
    const shown = (p) => path.relative(cwd, p) || p;
    process.stdout.write(`Built ${shown(entry)} → ${shown(outFile)}\n`);
  }
  return { entry, outFile };
}

module.exports = { runBuild, DEFAULT_ENTRY, DEFAULT_OUT_DIR };
