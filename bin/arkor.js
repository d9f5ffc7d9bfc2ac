#!/usr/bin/env node
"use strict";

const { main } = require("../lib/cli/main.js");

// Output piped into a program that stopped reading (`arkor logs ... | head`):
// the reader has what it wanted; end quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err && err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

main(process.argv.slice(2)).catch((err) => {
  // Errors arkor raises for a user mistake (missing entry, nothing to run)
  // carry an `ARKOR_*` code: their message says it all. Anything else gets
  // its stack, which is what one needs to debug it.
  const known =
    err instanceof Error && typeof err.code === "string" && err.code.startsWith("ARKOR_");
  // A backend's refusal (CloudApiError, or a refused anonymous sign-up,
  // whose message already holds the status) is the backend's message, not a
  // bug of ours: no stack either.
  const refused =
    err instanceof Error && ["CloudApiError", "AnonymousTokenRejectedError"].includes(err.name) && typeof err.status === "number";
  const text = known
    ? err.message
    : refused
      ? err.name === "CloudApiError" ? `${err.message} (HTTP ${err.status})` : err.message
    : err instanceof Error
      ? err.stack || err.message
      : String(err);
  process.stderr.write(`arkor: ${text}\n`);
  process.exitCode = 1;
});
