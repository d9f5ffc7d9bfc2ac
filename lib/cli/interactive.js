"use strict";

/** Whether the CLI may ask questions: a terminal on both ends, and not CI. */
function isInteractive() {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !process.env.CI;
}

module.exports = { isInteractive };
