#!/usr/bin/env node
"use strict";

const { main } = require("../lib/cli/main.js");

main(process.argv.slice(2)).catch((err) => {
  // Errors arkor raises for a user mistake (missing entry, nothing to run)
  // carry an `ARKOR_*` code: their message says it all. Anything else gets
  // its stack, which is what one needs to debug it.
  const known =
    err instanceof Error && typeof err.code === "string" && err.code.startsWith("ARKOR_");
  const text = known
    ? err.message
    : err instanceof Error
      ? err.stack || err.message
      : String(err);
  process.stderr.write(`arkor: ${text}\n`);
  process.exitCode = 1;
});
