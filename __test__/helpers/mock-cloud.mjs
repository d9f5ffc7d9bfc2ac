// Scripted mock of the Arkor cloud API for the Node test suite.
//
// A `node:http` server on 127.0.0.1 (random port) that records every request
// (method, path, query, headers, JSON body, timing, when the client closed
// the connection) and replays scripted responses, including SSE streams
// driven by per-connection scripts.
//
//   const mock = await startMockCloud();
//   mock.url                      // "http://127.0.0.1:<port>"
//   mock.streams.push(script...)  // one script per SSE connection, in order
//   mock.on("POST", "/v1/inference/chat", handler)   // override a route
//   mock.requests                 // every recorded request
//   mock.createdJobs              // jobs POST /v1/jobs created (Idempotency-Key honoured)
//   await mock.close()
//
// SSE script: an array of steps (or `{ status, headers, sse: steps }`, or a
// plain response spec such as `{ status: 503, json: {...} }`):
//   { id?, event?, data }     one frame (`data` object → JSON, string → raw)
//   { comment: "x" }           a `: x` comment line
//   { raw: "..." }             raw text written as-is
//   { delay: ms }              sleep between frames
//   { until: promise | () => promise }   block until it settles
//   { destroy: true }          abrupt socket destroy (no clean EOF)
//   { hang: true }             never end (until the client goes away / close())
//   { pingEvery: ms }          never end, writing `event: ping` frames
//   (falling off the end = clean EOF)
import { createServer } from "node:http";
import { after } from "node:test";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const here = dirname(fileURLToPath(import.meta.url));
/** Absolute path of the package entry (CommonJS). */
export const ADDON_PATH = join(here, "..", "..", "index.js");
export const REPO_ROOT = join(here, "..", "..");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const MODEL = "google/gemma-3-270m";

export const ORG = "org1";
export const PROJECT = "proj";

export function jobRow(overrides = {}) {
  return {
    id: "job-1",
    orgId: "o1",
    projectId: "p1",
    name: "run",
    status: "queued",
    config: { model: MODEL, datasetSource: { type: "huggingface", name: "x" } },
    createdAt: "2026-01-01T00:00:00.000Z",
    startedAt: null,
    completedAt: null,
    ...overrides,
  };
}

/** A frame step: `frame(1, {type: ...})` → `{id: "1", data: {...}}`. */
export function frame(id, data, event) {
  const f = { data };
  if (id !== undefined && id !== null) f.id = String(id);
  if (event) f.event = event;
  return f;
}

export function ev(type, extra = {}) {
  return {
    type,
    jobId: "job-1",
    timestamp: "2026-01-01T00:00:01.000Z",
    ...extra,
  };
}

function writeFrame(res, step) {
  let out = "";
  if (step.comment !== undefined) out += `: ${step.comment}\n`;
  if (step.id !== undefined) out += `id: ${step.id}\n`;
  if (step.event !== undefined) out += `event: ${step.event}\n`;
  if (step.data !== undefined) {
    const text =
      typeof step.data === "string" ? step.data : JSON.stringify(step.data);
    for (const line of text.split("\n")) out += `data: ${line}\n`;
  }
  if (step.retry !== undefined) out += `retry: ${step.retry}\n`;
  out += "\n";
  res.write(out);
}

function matchPath(pattern, path) {
  if (pattern instanceof RegExp) {
    const m = pattern.exec(path);
    return m ? { ...m.groups } : null;
  }
  const pp = pattern.split("/");
  const ps = path.split("/");
  if (pp.length !== ps.length) return null;
  const params = {};
  for (let i = 0; i < pp.length; i++) {
    if (pp[i].startsWith(":")) params[pp[i].slice(1)] = decodeURIComponent(ps[i]);
    else if (pp[i] !== ps[i]) return null;
  }
  return params;
}

export async function startMockCloud(options = {}) {
  const requests = [];
  const routes = []; // { method, pattern, handler, calls }
  const sockets = new Set();
  const timers = new Set();
  const waiters = [];
  let closed = false;

  const mock = {
    url: "",
    requests,
    /** Per-connection scripts for GET /v1/jobs/:id/events/stream. */
    streams: [],
    /** Used when `streams` is exhausted (default: 503 JSON error). */
    streamFallback: { status: 503, json: { error: "no more scripted streams" } },
    /** Extra headers added to every response (e.g. Deprecation). */
    extraHeaders: {},
    /** Anonymous-auth response details. */
    anon: {
      token: "anon-tok",
      anonymousId: "anon-1",
      kind: "cli",
      personalOrg: { slug: "anon-org", id: "org-anon", name: "Anon" },
    },
    /** Projects listed by GET /v1/projects. */
    projects: [],
    /** Job row template used by POST /v1/jobs. */
    job: jobRow(),
    /** Every job POST /v1/jobs created (a repeated Idempotency-Key creates none). */
    createdJobs: [],
    /** Idempotency-Key → the job created under it, as the local backend keeps them. */
    jobsByKey: new Map(),
    /**
     * What POST /v1/jobs does by default, for handlers that wrap it (e.g. to
     * drop the connection after the job exists): creates the job, or finds
     * the one made under the request's Idempotency-Key; returns the spec.
     */
    createJob(rec) {
      const key = rec.headers["idempotency-key"];
      const known = key === undefined ? undefined : mock.jobsByKey.get(key);
      if (known) return { status: 201, json: { job: known } };
      const b = rec.body ?? {};
      const job = { ...mock.job, name: b.name ?? mock.job.name, config: b.config ?? mock.job.config };
      mock.createdJobs.push(job);
      if (key !== undefined) mock.jobsByKey.set(key, job);
      return { status: 201, json: { job } };
    },
    on(method, pattern, handler) {
      routes.unshift({ method, pattern, handler, calls: 0 });
      return mock;
    },
    /** Requests filtered by method and path (string = exact, RegExp = test). */
    find(method, path) {
      return requests.filter(
        (r) =>
          (!method || r.method === method) &&
          (path === undefined ||
            (path instanceof RegExp ? path.test(r.path) : r.path === path)),
      );
    },
    streamRequests() {
      return requests.filter(
        (r) => r.method === "GET" && /\/events\/stream$/.test(r.path),
      );
    },
    /** Resolves with the first recorded request matching `pred` (past or future). */
    waitForRequest(pred, timeoutMs = 5000) {
      const hit = requests.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`mock: timed out waiting for request (${timeoutMs} ms)`));
        }, timeoutMs);
        t.unref?.();
        w.resolve = (r) => {
          clearTimeout(t);
          resolve(r);
        };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t), clearInterval(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(() => r()));
    },
  };

  function setT(fn, ms) {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  }

  async function sendSpec(req, res, rec, spec) {
    if (spec === undefined || spec === null) return;
    if (Array.isArray(spec)) spec = { sse: spec };
    if (spec.delayMs) await new Promise((r) => setT(r, spec.delayMs));
    if (spec.destroy) {
      req.socket.destroy();
      return;
    }
    const headers = { ...mock.extraHeaders, ...(spec.headers ?? {}) };
    if (spec.sse) {
      res.writeHead(spec.status ?? 200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        ...headers,
      });
      res.flushHeaders();
      await runSse(req, res, rec, spec.sse);
      return;
    }
    const status = spec.status ?? 200;
    let body = "";
    if (spec.json !== undefined) {
      body = JSON.stringify(spec.json);
      headers["content-type"] ??= "application/json";
    } else if (spec.text !== undefined) {
      body = spec.text;
      headers["content-type"] ??= "text/plain";
    }
    res.writeHead(status, headers);
    res.end(body);
  }

  async function runSse(req, res, rec, steps) {
    for (const step of steps) {
      if (rec.closed || closed) return;
      if (step.delay !== undefined) {
        await new Promise((r) => setT(r, step.delay));
        continue;
      }
      if (step.until !== undefined) {
        const p = typeof step.until === "function" ? step.until() : step.until;
        await Promise.race([p, rec.closedPromise]);
        continue;
      }
      if (step.destroy) {
        rec.destroyedByServer = true;
        req.socket.destroy();
        return;
      }
      if (step.hang) {
        await rec.closedPromise;
        return;
      }
      if (step.pingEvery !== undefined) {
        const iv = setInterval(() => {
          if (!rec.closed) writeFrame(res, { event: "ping", data: "{}" });
        }, step.pingEvery);
        timers.add(iv);
        await rec.closedPromise;
        clearInterval(iv);
        timers.delete(iv);
        return;
      }
      if (step.raw !== undefined) {
        res.write(step.raw);
        continue;
      }
      writeFrame(res, step);
    }
    if (!rec.closed) res.end();
  }

  function defaultRoute(method, path, rec) {
    let m;
    if (method === "POST" && path === "/v1/auth/anonymous") {
      return { status: 200, json: mock.anon };
    }
    if (method === "POST" && path === "/v1/projects") {
      const b = rec.body ?? {};
      return {
        status: 201,
        json: {
          project: {
            id: "proj-id-1",
            slug: b.slug,
            name: b.name,
            orgId: "org-id",
            createdAt: "2026-01-01T00:00:00.000Z",
          },
        },
      };
    }
    if (method === "GET" && path === "/v1/projects") {
      return {
        status: 200,
        json: { org: { slug: rec.query.orgSlug, id: "org-id", name: "Org" }, projects: mock.projects },
      };
    }
    if (method === "POST" && path === "/v1/jobs") {
      return mock.createJob(rec);
    }
    if (method === "GET" && path === "/v1/jobs") {
      return { status: 200, json: { jobs: [mock.job] } };
    }
    if (method === "GET" && (m = /^\/v1\/jobs\/([^/]+)\/events\/stream$/.exec(path))) {
      const script = mock.streams.length ? mock.streams.shift() : mock.streamFallback;
      return Array.isArray(script) ? { sse: script } : script;
    }
    if (method === "GET" && (m = /^\/v1\/jobs\/([^/]+)$/.exec(path))) {
      return { status: 200, json: { job: { ...mock.job, id: decodeURIComponent(m[1]) } } };
    }
    if (method === "POST" && /^\/v1\/jobs\/[^/]+\/cancel$/.test(path)) {
      return { status: 200, json: { ok: true } };
    }
    if (method === "POST" && path === "/v1/inference/chat") {
      return {
        status: 200,
        json: {
          id: "chatcmpl-1",
          object: "chat.completion",
          content: "hello",
          choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        },
      };
    }
    return { status: 404, json: { error: `mock: no route for ${method} ${path}` } };
  }

  const server = createServer(async (req, res) => {
    const u = new URL(req.url, "http://x");
    const chunks = [];
    const rec = {
      method: req.method,
      path: u.pathname,
      url: req.url,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      rawBody: "",
      body: undefined,
      at: performance.now(),
      closed: false,
      closedAt: undefined,
      /** true when the client closed before the response finished */
      clientAborted: false,
      destroyedByServer: false,
    };
    rec.closedPromise = new Promise((resolve) => {
      res.on("close", () => {
        rec.closed = true;
        rec.closedAt = performance.now();
        if (!res.writableFinished && !rec.destroyedByServer) rec.clientAborted = true;
        resolve();
      });
    });
    try {
      for await (const c of req) chunks.push(c);
    } catch {
      // client went away mid-body
    }
    rec.rawBody = Buffer.concat(chunks).toString("utf8");
    if (rec.rawBody) {
      try {
        rec.body = JSON.parse(rec.rawBody);
      } catch {
        rec.body = undefined;
      }
    }
    requests.push(rec);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].pred(rec)) {
        const [w] = waiters.splice(i, 1);
        w.resolve(rec);
      }
    }
    try {
      let spec;
      const route = routes.find((r) => {
        if (r.method !== req.method) return false;
        const params = matchPath(r.pattern, u.pathname);
        if (!params) return false;
        rec.params = params;
        return true;
      });
      if (route) {
        const idx = route.calls++;
        let h = route.handler;
        if (Array.isArray(h)) {
          // an array of specs: one per request, the last one repeats
          // (an SSE response must be written `{ sse: [...] }` here)
          h = h[Math.min(idx, h.length - 1)];
        }
        spec = typeof h === "function" ? await h(req, res, rec, idx) : h;
        if (typeof h === "function" && spec === undefined) return; // handled
      } else {
        spec = defaultRoute(req.method, u.pathname, rec);
      }
      await sendSpec(req, res, rec, spec);
    } catch (err) {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `mock handler threw: ${err?.message}` }));
      } else {
        res.destroy();
      }
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  mock.url = `http://127.0.0.1:${server.address().port}`;
  mock.server = server;
  return mock;
}

// ---------------------------------------------------------------------------
// Temp dirs, contexts, child processes
// ---------------------------------------------------------------------------

const tempDirs = [];
process.on("exit", () => {
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** A fresh temp directory, removed at process exit. */
export function makeTempDir(prefix = "arkor-test-") {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** A temp HOME directory (optionally with ~/.arkor/credentials.json). */
export function makeTempHome(credentials) {
  const home = makeTempDir("arkor-home-");
  if (credentials !== undefined) {
    mkdirSync(join(home, ".arkor"), { recursive: true });
    writeFileSync(
      join(home, ".arkor", "credentials.json"),
      typeof credentials === "string" ? credentials : JSON.stringify(credentials),
    );
  }
  return home;
}

/**
 * A temp project dir (optionally named `name`, nested inside a temp parent)
 * with `.arkor/state.json` when `state` is given (default: org1/proj/p1).
 */
export function makeProjectDir({ state = { orgSlug: ORG, projectSlug: PROJECT, projectId: "p1" }, name } = {}) {
  let dir = makeTempDir("arkor-cwd-");
  if (name !== undefined) {
    dir = join(dir, name);
    mkdirSync(dir, { recursive: true });
  }
  if (state) {
    mkdirSync(join(dir, ".arkor"), { recursive: true });
    writeFileSync(join(dir, ".arkor", "state.json"), JSON.stringify(state));
  }
  return dir;
}

export function anonCreds(url, overrides = {}) {
  return {
    mode: "anon",
    token: "tok",
    anonymousId: "a1",
    arkorCloudApiUrl: url,
    orgSlug: ORG,
    ...overrides,
  };
}

/**
 * Isolate the current process from the developer's real environment:
 * HOME / ARKOR_HOME point at temp dirs, ARKOR_CLOUD_API_URL is unset.
 * Call before loading the addon.
 */
export function isolateEnv() {
  installSafetyNet();
  const home = makeTempHome();
  process.env.HOME = home;
  process.env.USERPROFILE = home;
  process.env.ARKOR_HOME = join(home, ".arkor", "local");
  delete process.env.ARKOR_CLOUD_API_URL;
  return home;
}

let safetyNet = false;
/**
 * After all tests of a file have run, force the process to exit if something
 * (a leaked native handle, a background reconnect loop) keeps it alive, so a
 * misbehaving implementation fails tests instead of hanging the whole run.
 * Process hygiene itself is asserted in hygiene.test.mjs with child processes.
 */
export function installSafetyNet(ms = 3000) {
  if (safetyNet) return;
  safetyNet = true;
  after(() => {
    setTimeout(() => {
      process.stderr.write(`[mock-cloud] process still alive ${ms} ms after the last test; forcing exit\n`);
      process.exit();
    }, ms).unref();
  });
}

/** Start a mock and build the usual trainer context around it. */
export async function setupCloud(t, ctxOverrides = {}) {
  const mock = await startMockCloud();
  t.after(() => mock.close());
  const cwd = makeProjectDir();
  const ctx = {
    baseUrl: mock.url,
    credentials: anonCreds(mock.url),
    cwd,
    reconnectDelayMs: 20,
    maxReconnectDelayMs: 80,
    // bounded by default so a misbehaving client cannot retry forever in the
    // background of a test file; pass `maxReconnectAttempts: undefined` for
    // the unlimited default
    maxReconnectAttempts: 4,
    ...ctxOverrides,
  };
  if ("maxReconnectAttempts" in ctxOverrides && ctxOverrides.maxReconnectAttempts === undefined) {
    delete ctx.maxReconnectAttempts;
  }
  return { mock, ctx, cwd };
}

export function baseInput(overrides = {}) {
  return {
    name: "run",
    model: MODEL,
    dataset: { type: "huggingface", name: "org/ds" },
    ...overrides,
  };
}

/** Reject if `p` does not settle within `ms`. */
export function within(p, ms, what = "operation") {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Settle a promise into `{ok, value}` / `{ok:false, error}` with a bound. */
export async function settle(p, ms = 10_000, what) {
  try {
    return { ok: true, value: await within(p, ms, what) };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Every child process the tests start, SIGKILLed when the test process
 * exits so that a failing test never leaves one behind. Add on spawn,
 * delete on exit.
 */
export const children = new Set();
process.on("exit", () => {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/**
 * Run `node --input-type=module -e <code>` (or a file when `file` is set).
 * Resolves `{ code, signal, stdout, stderr, timedOut, exitAt, markerAt }`
 * where `markerAt` is the time (performance.now()) the first stdout line
 * equal to `marker` appeared.
 */
export function runNode(code, { env = {}, cwd, timeoutMs = 20_000, marker, type = "module" } = {}) {
  const args = type === "module" ? ["--input-type=module", "-e", code] : ["-e", code];
  const child = spawn(process.execPath, args, {
    cwd: cwd ?? REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  let markerAt;
  let timedOut = false;
  child.stdout.on("data", (d) => {
    stdout += d;
    if (marker && markerAt === undefined && stdout.split("\n").some((l) => l.trim() === marker)) {
      markerAt = performance.now();
    }
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const done = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      const exitAt = performance.now();
      clearTimeout(timer);
      // give the pipes a moment to drain
      let pending = 2;
      const fin = () => {
        if (--pending === 0) {
          children.delete(child);
          resolve({ code, signal, stdout, stderr, timedOut, exitAt, markerAt });
        }
      };
      if (child.stdout.readableEnded) fin();
      else child.stdout.on("end", fin);
      if (child.stderr.readableEnded) fin();
      else child.stderr.on("end", fin);
    });
  });
  done.child = child;
  done.kill = () => child.kill("SIGKILL");
  return done;
}

/**
 * Run `body` (the inside of an async function, with `arkor` = the package
 * loaded through require) in a fresh Node process. Its return value is sent
 * back as JSON. Resolves `{ ok, value }` or `{ ok: false, error: {name,
 * message, code, status, isCloudApiError} }` plus `stdout`, `stderr`, `code`.
 */
export async function runArkor(body, { env = {}, cwd, timeoutMs = 20_000 } = {}) {
  const code = `
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(ADDON_PATH)});
const arkor = require(${JSON.stringify(ADDON_PATH)});
const out = (v) => process.stdout.write("\\n@@RESULT " + JSON.stringify(v) + "\\n");
try {
  const value = await (async () => { ${body}\n })();
  out({ ok: true, value: value === undefined ? null : value });
} catch (e) {
  out({ ok: false, error: {
    name: e?.name, message: e?.message ?? String(e), code: e?.code, status: e?.status,
    isCloudApiError: e instanceof arkor.CloudApiError,
  } });
}
`;
  const r = await runNode(code, { env, cwd, timeoutMs });
  const line = r.stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  const parsed = line
    ? JSON.parse(line.slice("@@RESULT ".length))
    : { ok: false, error: { message: `child produced no result (exit ${r.code}, timedOut=${r.timedOut})\nstderr:\n${r.stderr}` } };
  return { ...parsed, stdout: r.stdout, stderr: r.stderr, code: r.code, timedOut: r.timedOut };
}
