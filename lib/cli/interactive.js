"use strict";

/** Whether the CLI may ask questions: a terminal on both ends, and not CI. */
function isInteractive() {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !process.env.CI;
}

/**
 * Runs an @inquirer/prompts question (`ask(prompts)`); Ctrl-C or a closed
 * terminal while it waits becomes a plain "Cancelled" error, not a stack.
 */
async function ask(question) {
  const prompts = await import("@inquirer/prompts");
  try {
    return await question(prompts);
  } catch (err) {
    if (err && (err.name === "ExitPromptError" || err.name === "AbortPromptError")) {
      const e = new Error("Cancelled.");
      e.code = "ARKOR_CANCELLED";
      throw e;
    }
    throw err;
  }
}

module.exports = { isInteractive, ask };
