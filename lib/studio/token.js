"use strict";

// The per-launch Studio token and its copy in ~/.arkor/studio-token, for a
// separately served SPA (a dev server) to read. The file sits beside the
// SDK's credentials file (the native settings' `arkorDir`).

const { randomBytes } = require("node:crypto");
const { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require("node:fs");
const path = require("node:path");

/** 32 random bytes, base64url (43 characters). */
const newStudioToken = () => randomBytes(32).toString("base64url");

/** `~/.arkor/studio-token` (beside the SDK's credentials file). */
function studioTokenPath() {
  return path.join(require("../native").settings().arkorDir, "studio-token");
}

/** Writes `token` (mode 0600, atomically); throws what the file system said. */
function writeStudioToken(token, file = studioTokenPath()) {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, token, { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * Removes the file if it still holds `token`: a later `arkor dev` that
 * rotated it keeps its own.
 */
function removeStudioToken(token, file = studioTokenPath()) {
  try {
    if (readFileSync(file, "utf8") === token) rmSync(file, { force: true });
  } catch {
    // Already gone, or unreadable: nothing of ours to remove.
  }
}

module.exports = { newStudioToken, studioTokenPath, writeStudioToken, removeStudioToken };
