// Helpers for tests that drive the `arkor` CLI as a subprocess against the
// embedded local backend, in isolated HOME / ARKOR_HOME directories.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

import { BIN, REPO_ROOT, TINY_MODEL, isolated, linkArkor, makeTempDir } from "./local-backend.mjs";

export { BIN, REPO_ROOT, TINY_MODEL, isolated, makeTempDir };

/**
 * An isolated env for the CLI: no CI flag unless given, no npm update check,
 * and no npm_config_user_agent, so `arkor init` behaves the same whether the
 * tests run under `npm test` or `node --test` (it installs with the package
 * manager that user agent names).
 */
export function cliEnv(extra = {}) {
  return isolated({ CI: undefined, npm_config_update_notifier: "false", npm_config_user_agent: undefined, ...extra });
}

/** Runs `arkor ...args` to completion: `{ status, stdout, stderr }`. */
export function arkor(args, { cwd = REPO_ROOT, env, input, timeout = 120_000 } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env, input, encoding: "utf8", timeout });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Fails with the command's output when it did not exit with `code`. */
export function assertExit(r, code, what) {
  assert.equal(r.status, code, `${what}: exit ${r.status} (signal ${r.signal})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/**
 * `arkor init dir --template t --yes` in a fresh temp dir, then what a user
 * does to run it here: `node_modules/arkor` (and its bin) linked to this
 * repository as `npm install` would. Honest swap for a fast test: the model
 * line the template writes (google/gemma-3-270m, asserted present) is
 * rewritten to the built-in tiny model, and `maxSteps` to `steps`.
 */
export function scaffold(env, { template = "triage", steps = 12, name = "proj", trainerEdit } = {}) {
  const parent = makeTempDir("arkor-cli-");
  const r = arkor(["init", name, "--template", template, "--yes", "--skip-git"], { cwd: parent, env });
  assertExit(r, 0, "arkor init");
  const dir = join(parent, name);
  linkArkor(dir);
  mkdirSync(join(dir, "node_modules", ".bin"), { recursive: true });
  symlinkSync(join("..", "arkor", "bin", "arkor.js"), join(dir, "node_modules", ".bin", "arkor"));
  const file = join(dir, "src", "arkor", "trainer.ts");
  let src = readFileSync(file, "utf8");
  assert.ok(src.includes('model: "google/gemma-3-270m"'), `the template trains gemma-3-270m by default:\n${src}`);
  assert.ok(/maxSteps: \d+/.test(src), src);
  src = src.replace('model: "google/gemma-3-270m"', `model: "${TINY_MODEL}"`).replace(/maxSteps: \d+/, `maxSteps: ${steps}`);
  if (trainerEdit) src = trainerEdit(src);
  writeFileSync(file, src);
  return dir;
}

/**
 * Spawns `command ...args` with pipes; `.waitFor(stream, re, ms)` resolves
 * the first match of `re` in all the text that stream has written so far.
 */
export function start(command, args, { cwd, env, timeoutMs = 120_000 } = {}) {
  const child = spawn(command, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
  const h = { child, out: { stdout: "", stderr: "" }, waiters: [] };
  const check = () => {
    for (const w of [...h.waiters]) {
      const m = h.out[w.stream].match(w.re);
      if (m) {
        h.waiters.splice(h.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  };
  for (const s of ["stdout", "stderr"]) {
    child[s].setEncoding("utf8");
    child[s].on("data", (d) => {
      h.out[s] += d;
      check();
    });
  }
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  h.done = new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      for (const w of h.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`exited (${code ?? signal}) before ${w.re} on ${w.stream}\nstdout:\n${h.out.stdout}\nstderr:\n${h.out.stderr}`));
      }
      resolve({ status: code, signal, stdout: h.out.stdout, stderr: h.out.stderr });
    });
  });
  h.waitFor = (stream, re, ms = 60_000) =>
    new Promise((resolve, reject) => {
      const w = { stream, re, resolve, reject };
      w.timer = setTimeout(() => {
        h.waiters.splice(h.waiters.indexOf(w), 1);
        reject(new Error(`no ${re} on ${stream} within ${ms} ms\nstdout:\n${h.out.stdout}\nstderr:\n${h.out.stderr}`));
      }, ms);
      h.waiters.push(w);
      check();
    });
  return h;
}

/** `start` for `node bin/arkor.js ...args`. */
export function startArkor(args, opts) {
  return start(process.execPath, [BIN, ...args], opts);
}

/** The id printed in `Started job <id>`. */
export const STARTED = /Started job (\S+)/;
