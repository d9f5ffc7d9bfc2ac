"use strict";

// `POST /api/train`: runs `arkor start [file]` in the project and streams
// what it prints, then `\n---\nexit=<code>\n`.

const { spawn } = require("node:child_process");
const { realpath } = require("node:fs/promises");
const path = require("node:path");

const { HttpError } = require("./http.js");

/** How long a child told to stop may take to cancel its job and exit. */
const STOP_GRACE_MS = 10_000;

/**
 * The training entry `file` as an absolute path inside `cwd`, symlinks
 * resolved first (a link in the project to a file outside it is refused).
 */
async function containedFile(cwd, file) {
  let base;
  let abs;
  try {
    base = await realpath(path.resolve(cwd));
    abs = await realpath(path.resolve(base, file));
  } catch {
    throw new HttpError(400, "file does not exist or is not accessible");
  }
  if (abs !== base && !abs.startsWith(base + path.sep)) {
    throw new HttpError(400, "file must be inside the project directory");
  }
  return abs;
}

/**
 * Spawns the CLI's `start` in `cwd` and streams its stdout and stderr to
 * `res`. When the client goes away the child is stopped (its job
 * cancelled), and (through `children`) killed when this process exits.
 */
async function startTraining({ cwd, binPath, file, res, children }) {
  const args = [binPath, "start"];
  if (file !== undefined) args.push(await containedFile(cwd, file));
  const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: process.env });
  children.add(child);
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, no-transform", "x-content-type-options": "nosniff" });
  res.flushHeaders();
  let finished = false;
  const finish = (tail) => {
    children.delete(child);
    if (finished) return;
    finished = true;
    res.end(tail);
  };
  // Raw bytes: a multi-byte character split across two reads stays whole.
  child.stdout.on("data", (d) => res.write(d));
  child.stderr.on("data", (d) => res.write(d));
  child.on("error", (err) => finish(`\n---\nfailed to start: ${err.message}\n`));
  child.on("close", (code, signal) => finish(`\n---\nexit=${code ?? signal}\n`));
  res.on("close", () => {
    if (finished) return;
    finished = true;
    // SIGINT is Ctrl-C to `arkor start`: it cancels its job, then exits.
    // A child that does not exit by itself soon is terminated.
    child.kill("SIGINT");
    setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGTERM"), STOP_GRACE_MS).unref();
  });
}

module.exports = { startTraining, containedFile };
