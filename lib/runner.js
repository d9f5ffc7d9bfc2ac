"use strict";

// `runTrainer`: load a project's training entry, find its trainer, run it.

const { existsSync } = require("node:fs");
const { rm } = require("node:fs/promises");
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const { randomBytes } = require("node:crypto");

const { isArkor } = require("./manifest.js");

const { DEFAULT_ENTRY, bundleEntry } = require("./bundle");

const NO_TRAINER_MESSAGE =
  "Training entry must export `arkor` (from createArkor({...})) or `trainer` (from createTrainer({...})), or default-export one of them.";

// Extensions Node (20) cannot import on its own; see `importEntry`.
const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);

function isTrainer(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.start === "function" &&
    typeof value.wait === "function" &&
    typeof value.cancel === "function"
  );
}

/** A manifest's trainer, or the value itself when it is a trainer. */
function fromManifestOrTrainer(value) {
  if (isArkor(value) && isTrainer(value.trainer)) return value.trainer;
  if (isTrainer(value)) return value;
  return null;
}

/**
 * Pick the trainer out of an entry module. Order: `arkor` (manifest, or a
 * trainer under that name), `trainer`, the default export (manifest or
 * trainer), then `default.trainer`.
 */
function extractTrainer(mod) {
  const viaArkor = fromManifestOrTrainer(mod.arkor);
  if (viaArkor) return viaArkor;
  if (isTrainer(mod.trainer)) return mod.trainer;
  const viaDefault = fromManifestOrTrainer(mod.default);
  if (viaDefault) return viaDefault;
  const def = mod.default;
  if (def !== null && typeof def === "object" && isTrainer(def.trainer)) {
    return def.trainer;
  }
  const err = new Error(NO_TRAINER_MESSAGE);
  err.code = "ARKOR_NO_TRAINER";
  throw err;
}

/**
 * Import the entry as a module. A TypeScript entry that this Node cannot
 * load by itself (no type stripping, or extensionless relative imports) is
 * bundled first with esbuild, next to the original so bare imports resolve
 * from the same `node_modules`, and the temporary bundle is removed once
 * loaded.
 */
async function importEntry(abs) {
  const url = pathToFileURL(abs).href;
  if (!TS_EXTENSIONS.has(path.extname(abs).toLowerCase())) {
    return import(url);
  }
  try {
    return await import(url);
  } catch (err) {
    // Both codes are raised while loading/linking, before any of the
    // entry's code has run, so retrying through a bundle is safe.
    const code = err && err.code;
    if (code !== "ERR_UNKNOWN_FILE_EXTENSION" && code !== "ERR_MODULE_NOT_FOUND") {
      throw err;
    }
  }
  const tmp = path.join(
    path.dirname(abs),
    `.${path.basename(abs)}.${process.pid}-${randomBytes(4).toString("hex")}.arkor.mjs`,
  );
  try {
    await bundleEntry(abs, tmp, { logLevel: "silent" });
    return await import(pathToFileURL(tmp).href);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Run the trainer exported by `file` (default `src/arkor/index.ts`, resolved
 * against the current directory): `start()`, then `wait()`, printing
 * `Started job <id>` and `Job <id> finished with status=<status>`.
 */
async function runTrainer(file, internal = {}) {
  const entry = file === undefined || file === null ? DEFAULT_ENTRY : file;
  const abs = path.resolve(process.cwd(), entry);
  if (!existsSync(abs)) {
    const err = new Error(
      `Training entry not found: ${abs}. Provide a path or create ${DEFAULT_ENTRY}.`,
    );
    err.code = "ARKOR_ENTRY_NOT_FOUND";
    throw err;
  }
  const mod = await importEntry(abs);
  const trainer = extractTrainer(mod);
  // The CLI's hook to reach the running trainer (Ctrl-C cancels the job).
  if (typeof internal.onTrainer === "function") internal.onTrainer(trainer);

  const { jobId } = await trainer.start();
  process.stdout.write(`Started job ${jobId}\n`);
  const result = await trainer.wait();
  process.stdout.write(
    `Job ${result.job.id} finished with status=${result.job.status}\n`,
  );
}

module.exports = { runTrainer };
