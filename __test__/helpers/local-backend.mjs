// Helpers for tests that run the REAL local backend (embedded in a child
// process, or `arkor serve`) on the tiny model: isolated environments, child
// processes with line-by-line stdout, small chatml datasets, free ports.
//
// Every child gets its own temp HOME and ARKOR_HOME and never sees the
// developer's ARKOR_CLOUD_API_URL, so nothing touches the real ~/.arkor.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, writeFileSync, symlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { children, makeTempDir, REPO_ROOT, sleep } from "./mock-cloud.mjs";

export { REPO_ROOT, sleep, makeTempDir };

export const TINY_MODEL = "arkor/tiny-gemma3";
export const BIN = join(REPO_ROOT, "bin", "arkor.js");
/** The ESM package entry (an absolute path, importable as-is on POSIX). */
export const ARKOR_ESM = join(REPO_ROOT, "index.mjs");

/**
 * A fresh isolated environment: temp HOME (also USERPROFILE), temp ARKOR_HOME
 * (NOT under HOME, so "nothing was written to ~/.arkor" is checkable), no
 * ARKOR_CLOUD_API_URL. `extra` entries are added last; an `undefined` value
 * removes the variable.
 */
export function isolated(extra = {}) {
  const home = realpathSync(makeTempDir("arkor-home-"));
  const arkorHome = realpathSync(makeTempDir("arkor-data-"));
  const env = { ...process.env, HOME: home, USERPROFILE: home, ARKOR_HOME: arkorHome };
  delete env.ARKOR_CLOUD_API_URL;
  delete env.NODE_TEST_CONTEXT; // children are plain programs, not test runners
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return { home, arkorHome, env };
}

/** `n` small chatml rows as JSONL text. */
export function chatmlRows(n = 16) {
  const rows = [];
  for (let i = 0; i < n; i++) {
    rows.push(
      JSON.stringify({
        messages: [
          { role: "system", content: "Triage the support ticket." },
          { role: "user", content: `Ticket ${i}: I can't log in to my account.` },
          { role: "assistant", content: `{"category":"auth","priority":"${["low", "medium", "high"][i % 3]}"}` },
        ],
      }),
    );
  }
  return rows.join("\n") + "\n";
}

/** Writes `text` (default: 16 chatml rows) to `dir/name`; returns its file:// URL. */
export function writeDataset(dir, name = "data.jsonl", text = chatmlRows()) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  return `file://${file}`;
}

/** `dir/node_modules/arkor` → the repository, so `import "arkor"` resolves. */
export function linkArkor(dir) {
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO_ROOT, join(dir, "node_modules", "arkor"), "dir");
}

/**
 * Spawns `node ...args`. Returns a handle:
 *   .child, .stdout/.stderr (text so far), .lines (stdout lines so far),
 *   .waitForLine(pred, ms)  resolves with the first stdout line matching,
 *   .done                   resolves { code, signal, stdout, stderr, timedOut, exitAt }
 *   .kill(sig)
 */
export function spawnNode(args, { cwd = REPO_ROOT, env, timeoutMs = 60_000 } = {}) {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const h = {
    child,
    stdout: "",
    stderr: "",
    lines: [],
    lineAt: [],
    timedOut: false,
    waiters: [],
  };
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    h.stdout += d;
    partial += d;
    const parts = partial.split("\n");
    partial = parts.pop();
    for (const line of parts) {
      h.lines.push(line);
      h.lineAt.push(performance.now());
      for (const w of [...h.waiters]) {
        if (w.pred(line)) {
          h.waiters.splice(h.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.on("data", (d) => {
    h.stderr += d;
  });
  const timer = setTimeout(() => {
    h.timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  h.done = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      const exitAt = performance.now();
      clearTimeout(timer);
      let pending = 2;
      const fin = () => {
        if (--pending > 0) return;
        children.delete(child);
        if (partial) {
          h.lines.push(partial);
          h.lineAt.push(exitAt);
          partial = "";
        }
        for (const w of h.waiters.splice(0)) w.reject(new Error(`process exited (code ${code}, signal ${signal}) before the expected line\nstdout:\n${h.stdout}\nstderr:\n${h.stderr}`));
        resolve({ code, signal, stdout: h.stdout, stderr: h.stderr, timedOut: h.timedOut, exitAt });
      };
      if (child.stdout.readableEnded) fin();
      else child.stdout.on("end", fin);
      if (child.stderr.readableEnded) fin();
      else child.stderr.on("end", fin);
    });
  });
  h.waitForLine = (pred, ms = 30_000) => {
    const hit = h.lines.find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred };
      const t = setTimeout(() => {
        h.waiters.splice(h.waiters.indexOf(w), 1);
        reject(new Error(`no matching stdout line within ${ms} ms\nstdout:\n${h.stdout}\nstderr:\n${h.stderr}`));
      }, ms);
      w.resolve = (l) => (clearTimeout(t), resolve(l));
      w.reject = (e) => (clearTimeout(t), reject(e));
      h.waiters.push(w);
    });
  };
  h.kill = (sig = "SIGKILL") => child.kill(sig);
  return h;
}

/** Runs `node ...args` to completion. */
export function runNodeArgs(args, opts) {
  return spawnNode(args, opts).done;
}

/** Writes `code` to `dir/name` and runs it with node (cwd `dir`). */
export function runScript(dir, name, code, opts = {}) {
  writeFileSync(join(dir, name), code);
  return spawnNode([join(dir, name)], { cwd: dir, ...opts });
}

/** Stdout lines that start with `prefix`, parsed as JSON after it. */
export function jsonLines(stdout, prefix = "@@") {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith(prefix))
    .map((l) => JSON.parse(l.slice(prefix.length)));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * `node bin/arkor.js serve --port <port>` with `env`; resolves the handle
 * once it prints its URL. Retries for `retryMs` when the port is still
 * taken (e.g. right after the previous server on it was killed).
 */
export async function startServe(port, env, { retryMs = 8000 } = {}) {
  const deadline = performance.now() + retryMs;
  for (;;) {
    const h = spawnNode([BIN, "serve", "--port", String(port)], { env, timeoutMs: 300_000 });
    const ready = h.waitForLine((l) => l.includes("listening on"), 30_000).then(
      () => true,
      () => false,
    );
    if (await ready) return h;
    const r = await h.done;
    if (performance.now() > deadline) {
      throw new Error(`arkor serve --port ${port} did not start (exit ${r.code})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    }
    await sleep(200);
  }
}

function sqlite(arkorHome, sql) {
  const r = spawnSync(
    "python3",
    [
      "-c",
      "import json,sqlite3,sys\n" +
        "c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True)\n" +
        "print(json.dumps([list(r) for r in c.execute(sys.argv[2])]))",
      join(arkorHome, "arkor.sqlite"),
      sql,
    ],
    { encoding: "utf8" },
  );
  if (r.error) throw new Error(`reading the job store needs python3 (its sqlite3 module): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`reading the job store failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * The `jobs` rows ({ id, name, status, error }) of the SQLite store under
 * `arkorHome`, oldest first, read with python3's sqlite3 module (Node 20 has
 * no SQLite). Throws when python3 is not available: .ci/run installs it.
 */
export function sqliteJobs(arkorHome) {
  const rows = sqlite(arkorHome, "select id, name, status, error from jobs order by seq");
  return rows.map(([id, name, status, error]) => ({ id, name, status, error }));
}

/**
 * The stored events ({ id, ...data }) of every job under `arkorHome`, in id
 * order.
 */
export function sqliteEvents(arkorHome) {
  const rows = sqlite(arkorHome, "select id, data from events order by id");
  return rows.map(([id, data]) => ({ id, ...JSON.parse(data) }));
}
