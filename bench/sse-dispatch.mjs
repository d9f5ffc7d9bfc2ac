#!/usr/bin/env node
// Benchmark: SSE frame → completed JS callback, arkor (Rust SSE + napi
// threadsafe-function dispatch) against a plain-JavaScript baseline (`fetch`
// + a small SSE parser).
//
//   node bench/sse-dispatch.mjs [--events 100000] [--runs 3]
//        [--latency-events 5000] [--interval-us 1000]
//        [--variants arkor-sync,arkor-async,baseline-sync,baseline-async]
//        [--phases throughput,memory,latency] [--memory-events 10×events]
//        [--addon path/to/arkor.node] [--before path/to/other/checkout]
//        [--compare NAME=path/to/other/checkout]... [--upstream path/to/upstream-sdk]
//        [--fifo PRIORITY] [--diag] [--json out.json]
//
// Layout: this process (the orchestrator) forks the SSE server
// (bench/sse-server.mjs) once, then forks a fresh client process for every
// measured run (`--child`), so that runs do not share heaps, JIT state or
// tokio runtimes, and the server's writes never share the client's event
// loop. All timestamps are `performance.timeOrigin + performance.now()`
// (ms, µs resolution), which is one clock across processes on one machine.
// The plain-JS baseline client lives in bench/sse-baseline.mjs.
// See bench/README.md for what each number means.

import { execFileSync, fork } from "node:child_process";
import { createRequire } from "node:module";
import { performance, PerformanceObserver } from "node:perf_hooks";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { baselineWait } from "./sse-baseline.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, "..");
const now = () => performance.timeOrigin + performance.now();

const { values: opts } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    runs: { type: "string", default: "3" },
    "latency-events": { type: "string", default: "5000" },
    "interval-us": { type: "string", default: "1000" },
    variants: { type: "string", default: "arkor-sync,arkor-async,baseline-sync,baseline-async" },
    phases: { type: "string", default: "throughput,memory,latency" },
    "memory-events": { type: "string" },
    addon: { type: "string" },
    before: { type: "string" },
    compare: { type: "string", multiple: true, default: [] },
    fifo: { type: "string" },
    upstream: { type: "string" },
    diag: { type: "boolean", default: false },
    json: { type: "string" },
    child: { type: "boolean", default: false },
  },
});

// ---------------------------------------------------------------------------
// Client side (runs in a forked child per measured run)
// ---------------------------------------------------------------------------

/** The arkor SDK: the package entry, or lib/trainer.js over another binary. */
function loadArkor(addon) {
  const require = createRequire(join(REPO, "index.js"));
  if (!addon) return require(join(REPO, "index.js"));
  const native = require(resolve(addon));
  const { createTrainerWith } = require(join(REPO, "lib", "trainer.js"));
  return { createTrainer: createTrainerWith(native), SUPPORTED_MODELS: native.supportedModels() };
}

/**
 * `--diag`: wraps the native trainer so that every dispatcher call is
 * counted and timed (JSON.parse of the batch, then the callbacks).
 */
function diagNative(addon, diag) {
  const require = createRequire(join(REPO, "index.js"));
  const native = require(addon ? resolve(addon) : join(REPO, "native.cjs"));
  const { createTrainerWith } = require(join(REPO, "lib", "trainer.js"));
  class NativeTrainer {
    constructor(a, b) {
      this.t = new native.NativeTrainer(a, b);
    }
    start() {
      return this.t.start();
    }
    cancel() {
      return this.t.cancel();
    }
    infer(...a) {
      return this.t.infer(...a);
    }
    wait(dispatch, mask, handle) {
      return this.t.wait(
        (batch) => {
          const t0 = performance.now();
          diag.batches++;
          diag.bytes += batch.metrics.byteLength + batch.texts.reduce((n, t) => n + t.length, 0);
          diag.maxBatchBytes = Math.max(diag.maxBatchBytes, batch.metrics.byteLength);
          const t1 = t0;
          diag.maxBatch = Math.max(diag.maxBatch, batch.kinds.length);
          if (diag.lastReturn) diag.idleMs += t0 - diag.lastReturn;
          const r = dispatch(batch);
          const done = () => {
            diag.lastReturn = performance.now();
            diag.dispatchMs += diag.lastReturn - t1;
          };
          if (r && typeof r.then === "function") r.then(done, done);
          else done();
          return r;
        },
        mask,
        handle,
      );
    }
  }
  return { createTrainer: createTrainerWith({ ...native, NativeTrainer }), SUPPORTED_MODELS: native.supportedModels() };
}

// --- One measured run -------------------------------------------------------

function memSample() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal };
}

async function clientRun(task) {
  const { variant, phase, events, baseUrl, addon, diag: wantDiag } = task;
  const diag = wantDiag ? { batches: 0, bytes: 0, maxBatch: 0, maxBatchBytes: 0, parseMs: 0, dispatchMs: 0, idleMs: 0 } : null;
  let arkor = null;
  if (variant.startsWith("arkor")) arkor = diag ? diagNative(addon, diag) : loadArkor(addon);
  // `--before DIR` / `--compare NAME=DIR`: another checkout of this
  // package (its own index.js,
  // lib/ and binary), to measure an earlier build in the same run.
  const other = task.compare[variant.slice(0, variant.lastIndexOf("-"))];
  if (other) arkor = createRequire(join(other, "index.js"))(join(other, "index.js"));
  // `--upstream DIR`: upstream's TypeScript SDK built from source
  // (`DIR/arkor.mjs`, see bench/README.md), its own createTrainer/wait().
  if (variant.startsWith("upstream")) arkor = await import(pathToFileURL(join(task.upstream, "arkor.mjs")).href);
  const cwd = mkdtempSync(join(tmpdir(), "arkor-bench-"));
  mkdirSync(join(cwd, ".arkor"));
  writeFileSync(join(cwd, ".arkor", "state.json"), JSON.stringify({ orgSlug: "org", projectSlug: "p", projectId: "p1" }));
  const context = {
    baseUrl,
    credentials: { mode: "anon", token: "t", anonymousId: "a", arkorCloudApiUrl: baseUrl, orgSlug: "org" },
    cwd,
  };
  const isAsync = variant.endsWith("async");

  // State touched by the callbacks (kept tiny and identical for every variant).
  let count = 0;
  let firstAt = 0;
  let lastAt = 0;
  let expected = 0;
  let entries = null; // latency phase: callback entry time by step
  let sumLoss = 0;

  const onLogSync = (ctx) => {
    const t = now();
    if (entries !== null) entries[ctx.step] = t;
    if (count === 0) firstAt = t;
    count++;
    lastAt = t;
    sumLoss += ctx.loss;
  };
  const onLog = isAsync ? async (ctx) => onLogSync(ctx) : onLogSync;
  const model = arkor ? arkor.SUPPORTED_MODELS[0] : "google/gemma-3-270m";
  const input = (name) => ({ name, model, dataset: { type: "huggingface", name: "org/ds" }, callbacks: { onLog } });
  const follow = (name) => (arkor ? arkor.createTrainer(input(name), context).wait() : baselineWait(baseUrl, input(name)));

  const reset = () => {
    count = 0;
    firstAt = lastAt = 0;
    sumLoss = 0;
  };

  // Warm-up (JIT, connection setup, first-call costs), not measured.
  const warm = Math.min(5000, events);
  await follow(`tp-${warm}`);
  reset();
  if (diag) Object.assign(diag, { batches: 0, bytes: 0, maxBatch: 0, maxBatchBytes: 0, parseMs: 0, dispatchMs: 0, idleMs: 0, lastReturn: 0 });

  globalThis.gc?.();
  globalThis.gc?.();
  const memStart = memSample();
  const samples = [{ t: now(), n: 0, ...memStart }];
  const timer = setInterval(() => samples.push({ t: now(), n: count, ...memSample() }), 100);

  let name;
  if (phase === "throughput") {
    name = `tp-${events}`;
    expected = events;
  } else {
    name = `lat-${events}-${task.intervalUs}`;
    expected = events;
    entries = new Float64Array(events + 1);
  }
  // Latency phase: the client's GC pauses (start, duration), to tell which
  // slow frames waited for one.
  let gcs = null;
  let gcObserver = null;
  if (phase === "latency") {
    gcs = [];
    gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration]);
    });
    gcObserver.observe({ entryTypes: ["gc"] });
  }
  const startedAt = now();
  const result = await follow(name);
  const endedAt = now();
  clearInterval(timer);
  if (gcObserver) {
    await new Promise((r) => setTimeout(r, 10)); // entries are delivered asynchronously
    gcObserver.disconnect();
  }
  samples.push({ t: now(), n: count, ...memSample() });
  globalThis.gc?.();
  globalThis.gc?.();
  const memEndGc = memSample();
  rmSync(cwd, { recursive: true, force: true });

  if (count !== expected) throw new Error(`${variant}: ${count} callbacks, expected ${expected}`);
  if (result?.job?.status !== "completed") throw new Error(`${variant}: job status ${result?.job?.status}`);
  return {
    variant,
    phase,
    events,
    count,
    startedAt,
    endedAt,
    firstAt,
    lastAt,
    memStart,
    memEndGc,
    samples,
    entries: entries ? Array.from(entries) : null,
    gcs,
    diag,
    checksum: sumLoss,
  };
}


// ---------------------------------------------------------------------------
// Orchestrator
// ---------------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 3) return 0;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

const MB = 1024 * 1024;
/** Memory is called flat when it grows by less than this per event. */
const FLAT_BYTES_PER_EVENT = 8;
/** The latency aim: p99 frame → callback under this many ms. */
const SLOW_MS = 0.5;
const fmtMB = (b) => (b / MB).toFixed(1);
const fmtK = (x) => (x / 1000).toFixed(0) + "k";

async function startServer() {
  const server = fork(join(here, "sse-server.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const listeners = new Set();
  server.on("message", (m) => {
    for (const l of listeners) l(m);
  });
  const next = (pred) =>
    new Promise((resolve) => {
      const l = (m) => {
        if (pred(m)) {
          listeners.delete(l);
          resolve(m);
        }
      };
      listeners.add(l);
    });
  const ready = await next((m) => m.type === "ready");
  return { server, port: ready.port, next };
}

/** Offset of the server's clock from ours, from the IPC ping with the smallest RTT. */
async function clockOffset(srv) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 50; i++) {
    const t0 = now();
    srv.server.send({ type: "ping", t: t0 });
    const pong = await srv.next((m) => m.type === "pong" && m.t === t0);
    const t1 = now();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: pong.server - (t0 + t1) / 2 };
  }
  return best;
}

/**
 * One client process for `task`. `fifo`: a real-time priority, so the
 * client runs under `chrt -f` (SCHED_FIFO) and other processes on the
 * machine cannot delay it.
 */
function runChild(task, fifo) {
  return new Promise((resolvePromise, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--child"], {
      ...(fifo ? { execPath: "chrt", execArgv: ["-f", String(fifo), process.execPath, "--expose-gc"] } : { execArgv: ["--expose-gc"] }),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let settled = false;
    child.on("message", (m) => {
      settled = true;
      if (m.ok) resolvePromise(m.result);
      else reject(new Error(m.error));
    });
    child.on("exit", (code) => {
      if (!settled) reject(new Error(`client exited with ${code} before reporting`));
    });
    child.send(task);
  });
}

async function main() {
  const events = Number(opts.events);
  const runs = Number(opts.runs);
  const latEvents = Number(opts["latency-events"]);
  const memEvents = Number(opts["memory-events"] ?? events * 10);
  const intervalUs = Number(opts["interval-us"]);
  // Other checkouts of this package, by variant prefix (`--before DIR` is
  // `--compare before=DIR`).
  const compare = {};
  for (const spec of [...(opts.before ? [`before=${opts.before}`] : []), ...opts.compare]) {
    const eq = spec.indexOf("=");
    if (eq < 1) throw new Error(`--compare wants NAME=DIR, got ${spec}`);
    const name = spec.slice(0, eq);
    if (["arkor", "baseline", "upstream"].includes(name)) throw new Error(`--compare: the name ${name} is taken`);
    compare[name] = resolve(spec.slice(eq + 1));
  }
  const variants = opts.variants.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of Object.keys(compare)) {
    if (!variants.some((v) => v.startsWith(`${name}-`))) variants.push(`${name}-sync`, `${name}-async`);
  }
  const upstreamDir = opts.upstream ? resolve(opts.upstream) : undefined;
  if (upstreamDir && !variants.some((v) => v.startsWith("upstream"))) variants.push("upstream-sync", "upstream-async");
  const phases = opts.phases.split(",").map((s) => s.trim()).filter(Boolean);

  const srv = await startServer();
  const baseUrl = `http://127.0.0.1:${srv.port}`;
  const clock = await clockOffset(srv);
  console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim()}, load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`addon: ${opts.addon ?? "index.js (arkor.linux-x64-gnu.node)"}`);
  for (const [name, dir] of Object.entries(compare)) console.log(`${name}-*: ${dir}/index.js`);
  if (upstreamDir) console.log(`upstream-*: ${upstreamDir}/arkor.mjs`);
  console.log(`clock offset server−client: ${(clock.offset * 1000).toFixed(0)} µs (IPC RTT ${(clock.rtt * 1000).toFixed(0)} µs)`);
  const report = { node: process.version, cpus: cpus().length, load: loadavg(), clock, throughput: {}, memory: {}, latency: {} };

  /** Renders a throughput body in the server ahead of time. */
  const prepare = async (n) => {
    srv.server.send({ type: "prepare", jobId: `tp-${n}`, events: n });
    await srv.next((m) => m.type === "prepared" && m.jobId === `tp-${n}`);
  };

  /** One throughput run of `variant` over `n` frames, in a fresh client. */
  const throughputRun = async (variant, n) => {
    const streamMsg = srv.next((m) => m.type === "stream" && m.jobId === `tp-${n}`);
    const res = await runChild({ variant, phase: "throughput", events: n, baseUrl, addon: opts.addon, compare, upstream: upstreamDir, diag: opts.diag });
    const stream = await streamMsg;
    // rss against events delivered, past the first quarter of the run
    // (allocator and heap warm-up), as a least-squares slope; and the same
    // for rss − heapTotal (memory outside V8's heap: the addon, buffers),
    // since V8 grows its young generation under a high allocation rate and
    // that shows in rss as a one-off step of 10-20 MB.
    const late = res.samples.filter((s) => s.n > n * 0.25);
    const pts = late.map((s) => [s.n, s.rss]);
    const nativePts = late.map((s) => [s.n, s.rss - s.heapTotal]);
    return {
      evPerSecCb: (n - 1) / ((res.lastAt - res.firstAt) / 1000),
      evPerSecFirstByte: n / ((res.lastAt - stream.firstWriteAt) / 1000),
      wallMs: res.endedAt - res.startedAt,
      serverWriteMs: stream.lastWriteAt - stream.firstWriteAt,
      bytes: stream.bytes,
      rssStart: res.memStart.rss,
      rssPeak: Math.max(...res.samples.map((s) => s.rss)),
      rssEndGc: res.memEndGc.rss,
      heapStart: res.memStart.heapUsed,
      heapPeak: Math.max(...res.samples.map((s) => s.heapUsed)),
      heapEndGc: res.memEndGc.heapUsed,
      rssBytesPerEvent: slope(pts),
      nonHeapBytesPerEvent: slope(nativePts),
      heapTotalPeak: Math.max(...res.samples.map((s) => s.heapTotal)),
      samples: res.samples.length,
      diag: res.diag,
    };
  };
  const memCell = (a, b, c) => `${fmtMB(a)} / ${fmtMB(b)} / ${fmtMB(c)}`;

  // Throughput phase ----------------------------------------------------------
  if (phases.includes("throughput")) {
    await prepare(events);
    await prepare(Math.min(5000, events)); // the clients' warm-up
    console.log(`\nthroughput: ${events} training.log frames, ${runs} runs per variant (interleaved)`);
    const results = Object.fromEntries(variants.map((v) => [v, []]));
    for (let r = 0; r < runs; r++) {
      for (const variant of variants) {
        const row = await throughputRun(variant, events);
        results[variant].push(row);
        const d = row.diag?.batches
          ? `  batches ${row.diag.batches} (mean ${(events / row.diag.batches).toFixed(1)}, max ${row.diag.maxBatch}, ${(row.diag.bytes / events).toFixed(0)} B/event), JSON.parse ${row.diag.parseMs.toFixed(0)} ms, dispatcher ${row.diag.dispatchMs.toFixed(0)} ms, JS waiting between batches ${row.diag.idleMs.toFixed(0)} ms`
          : "";
        console.log(
          `  run ${r + 1} ${variant.padEnd(15)} ${fmtK(row.evPerSecCb).padStart(6)} ev/s (cb→cb)  ${fmtK(row.evPerSecFirstByte).padStart(6)} ev/s (1st byte→last cb)  rss ${fmtMB(row.rssStart)}→${fmtMB(row.rssPeak)}→${fmtMB(row.rssEndGc)} MB${d}`,
        );
      }
    }
    console.log(`\n${"variant".padEnd(16)}${"ev/s cb→cb".padStart(12)}${"ev/s byte→cb".padStart(14)}${"vs baseline".padStart(13)}${"rss start/peak/end MB".padStart(24)}${"heap start/peak/end MB".padStart(25)}`);
    const base = results["baseline-sync"] ? median(results["baseline-sync"].map((r) => r.evPerSecCb)) : NaN;
    for (const v of variants) {
      const rs = results[v];
      const m = (k) => median(rs.map((r) => r[k]));
      const summary = {
        evPerSecCb: m("evPerSecCb"),
        evPerSecFirstByte: m("evPerSecFirstByte"),
        runsEvPerSecCb: rs.map((r) => Math.round(r.evPerSecCb)),
        rssStart: m("rssStart"),
        rssPeak: m("rssPeak"),
        rssEndGc: m("rssEndGc"),
        heapStart: m("heapStart"),
        heapPeak: m("heapPeak"),
        heapEndGc: m("heapEndGc"),
        runs: rs,
      };
      report.throughput[v] = summary;
      console.log(
        `${v.padEnd(16)}${fmtK(summary.evPerSecCb).padStart(12)}${fmtK(summary.evPerSecFirstByte).padStart(14)}${(Number.isNaN(base) ? "" : (summary.evPerSecCb / base).toFixed(2) + "×").padStart(13)}${memCell(summary.rssStart, summary.rssPeak, summary.rssEndGc).padStart(24)}${memCell(summary.heapStart, summary.heapPeak, summary.heapEndGc).padStart(25)}`,
      );
    }
  }

  // Memory phase --------------------------------------------------------------
  // A 100k run of the fastest variant lasts a fraction of a second (a few
  // samples), too short to tell growth per event from warm-up; one longer
  // run per variant gives the rss-vs-events slope.
  if (phases.includes("memory")) {
    const n = memEvents;
    await prepare(n);
    await prepare(Math.min(5000, n));
    console.log(`\nmemory: one run per variant over ${n} frames, rss/heapUsed sampled every 100 ms`);
    console.log(`${"variant".padEnd(16)}${"ev/s cb→cb".padStart(12)}${"rss start/peak/end MB".padStart(24)}${"heap start/peak/end MB".padStart(25)}${"heapTotal peak".padStart(16)}${"B/event rss".padStart(13)}${"non-heap".padStart(10)}  flat?`);
    for (const variant of variants) {
      const row = await throughputRun(variant, n);
      // Flat: memory outside the V8 heap (rss − heapTotal) grows by less
      // than FLAT_BYTES_PER_EVENT per event past warm-up (a client that kept
      // each ~250-byte frame would be 30× over it), and the JS heap after a
      // full GC is back within 1 byte per event (at least 1 MB) of where it
      // started.
      const flat = Math.abs(row.nonHeapBytesPerEvent) < FLAT_BYTES_PER_EVENT && row.heapEndGc - row.heapStart < Math.max(n, MB);
      report.memory[variant] = { ...row, flat };
      console.log(
        `${variant.padEnd(16)}${fmtK(row.evPerSecCb).padStart(12)}${memCell(row.rssStart, row.rssPeak, row.rssEndGc).padStart(24)}${memCell(row.heapStart, row.heapPeak, row.heapEndGc).padStart(25)}${fmtMB(row.heapTotalPeak).padStart(16)}${row.rssBytesPerEvent.toFixed(2).padStart(13)}${row.nonHeapBytesPerEvent.toFixed(2).padStart(10)}  ${flat ? "yes" : "NO"}`,
      );
    }
  }

  // Latency phase -------------------------------------------------------------
  // `--fifo N` runs it a second time with the server and the clients at
  // SCHED_FIFO priority N: what the code adds once the scheduler no longer
  // delays its threads behind other work on the machine.
  const latencyPhase = async (fifo) => {
    const label = fifo ? `latency, SCHED_FIFO ${fifo}` : "latency";
    console.log(`\n${label}: ${latEvents} frames, one every ${intervalUs} µs, ${runs} runs per variant (interleaved); frame write → callback entry`);
    const results = Object.fromEntries(variants.map((v) => [v, []]));
    const jobId = `lat-${latEvents}-${intervalUs}`;
    // Every thread of the server (`-a`), for the phase only.
    if (fifo) execFileSync("chrt", ["-a", "-f", "-p", String(fifo), String(srv.server.pid)]);
    try {
      for (let r = 0; r < runs; r++) {
        for (const variant of variants) {
          const streamMsg = srv.next((m) => m.type === "stream" && m.jobId === jobId);
          const res = await runChild({ variant, phase: "latency", events: latEvents, intervalUs, baseUrl, addon: opts.addon, compare, upstream: upstreamDir }, fifo);
          const stream = await streamMsg;
          const lat = [];
          // Frames over the 0.5 ms aim, and how many of them overlapped one
          // of the client's GC pauses between the write and the callback.
          let slow = 0;
          let slowInGc = 0;
          for (let i = 1; i <= latEvents; i++) {
            // Server stamps are in its clock: bring them into ours.
            const wrote = stream.writeTimes[i] - clock.offset;
            const l = res.entries[i] - wrote;
            lat.push(l);
            if (l > SLOW_MS) {
              slow++;
              if (res.gcs.some(([start, dur]) => start < res.entries[i] && start + dur > wrote)) slowInGc++;
            }
          }
          lat.sort((a, b) => a - b);
          const row = {
            p50: percentile(lat, 50),
            p90: percentile(lat, 90),
            p99: percentile(lat, 99),
            p999: percentile(lat, 99.9),
            max: lat[lat.length - 1],
            min: lat[0],
            achievedRate: latEvents / ((stream.lastWriteAt - stream.firstWriteAt) / 1000),
            slow,
            slowInGc,
            gcs: res.gcs.length,
          };
          results[variant].push(row);
          console.log(
            `  run ${r + 1} ${variant.padEnd(15)} p50 ${(row.p50 * 1000).toFixed(0).padStart(5)} µs  p90 ${(row.p90 * 1000).toFixed(0).padStart(5)} µs  p99 ${(row.p99 * 1000).toFixed(0).padStart(6)} µs  max ${(row.max * 1000).toFixed(0).padStart(6)} µs  >0.5 ms: ${row.slow} (${row.slowInGc} during a GC; ${row.gcs} GCs)  (${row.achievedRate.toFixed(0)} frames/s)`,
          );
        }
      }
    } finally {
      if (fifo) execFileSync("chrt", ["-a", "-o", "-p", "0", String(srv.server.pid)]);
    }
    console.log(`\n${"variant".padEnd(16)}${"p50 µs".padStart(9)}${"p90 µs".padStart(9)}${"p99 µs".padStart(9)}${"p99.9 µs".padStart(10)}${"max µs".padStart(9)}${">0.5 ms".padStart(9)}${"in GC".padStart(7)}  p99 < 0.5 ms?`);
    const out = {};
    for (const v of variants) {
      const rs = results[v];
      const m = (k) => median(rs.map((r) => r[k]));
      const s = { p50: m("p50"), p90: m("p90"), p99: m("p99"), p999: m("p999"), max: m("max"), slow: m("slow"), slowInGc: m("slowInGc"), runs: rs };
      out[v] = s;
      const us = (x) => (x * 1000).toFixed(0);
      console.log(`${v.padEnd(16)}${us(s.p50).padStart(9)}${us(s.p90).padStart(9)}${us(s.p99).padStart(9)}${us(s.p999).padStart(10)}${us(s.max).padStart(9)}${String(s.slow).padStart(9)}${String(s.slowInGc).padStart(7)}  ${s.p99 < SLOW_MS ? "yes" : "NO"}`);
    }
    return out;
  };
  if (phases.includes("latency")) {
    console.log(`\nload before the latency phase: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    report.latency = await latencyPhase(null);
    if (opts.fifo) report.latencyFifo = await latencyPhase(Number(opts.fifo));
  }

  console.log(`\nload after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  report.loadAfter = loadavg();
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  srv.server.send({ type: "exit" });
}

if (opts.child) {
  process.on("message", async (task) => {
    try {
      const r = await clientRun(task);
      process.send({ ok: true, result: r }, () => process.exit(0));
    } catch (err) {
      process.send({ ok: false, error: String(err?.stack ?? err) }, () => process.exit(1));
    }
  });
} else {
  await main();
}
