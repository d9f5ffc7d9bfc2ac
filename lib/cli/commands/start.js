"use strict";

// `arkor start [entry]`: run the build artifact's trainer.

const { existsSync } = require("node:fs");
const path = require("node:path");

// Straight from lib/, not the package root: the CLI must not depend on the
// native addon being loadable just to find and run a trainer.
const { runTrainer } = require("../../runner.js");
const { runBuild, DEFAULT_OUT_DIR } = require("./build.js");
const { installProgress } = require("../progress.js");

/**
 * Run `.arkor/build/index.mjs` with `runTrainer`. Builds first when an entry
 * is given (always rebuilt from it) or when no artifact exists yet (built
 * from the default entry).
 */
async function runStart(opts = {}) {
  const cwd = opts.cwd || process.cwd();
  const outDir = opts.outDir || DEFAULT_OUT_DIR;
  const outFile = path.join(path.resolve(cwd, outDir), "index.mjs");

  if (opts.entry || !existsSync(outFile)) {
    await runBuild({ cwd, outDir, entry: opts.entry });
  }
  const { clear } = installProgress(opts.progressStream);
  let trainer = null;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted || !trainer) process.exit(130);
    interrupted = true;
    clear();
    process.stderr.write("\nInterrupted: cancelling the job (press Ctrl-C again to quit at once)...\n");
    trainer
      .cancel()
      .then(() => process.stderr.write("Job cancelled.\n"))
      .catch((err) => process.stderr.write(`Could not cancel the job: ${err.message}\n`))
      .finally(() => process.exit(130));
  };
  process.on("SIGINT", onSigint);
  try {
    await runTrainer(outFile, { onTrainer: (t) => (trainer = t) });
  } finally {
    clear();
    process.off("SIGINT", onSigint);
  }
}

module.exports = { runStart };
