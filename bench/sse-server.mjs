// Child process for bench/sse-dispatch.mjs: a minimal Arkor cloud stand-in
// that serves `POST /v1/jobs` and the job's SSE stream, in its own process
// so that its socket writes do not share the client's event loop.
//
// Protocol (IPC, `process.send`):
//   → parent  { type: "ready", port }
//   ← parent  { type: "ping", t }             → { type: "pong", t, server }
//   → parent  { type: "stream", jobId, firstWriteAt, lastWriteAt, frames, bytes, writeTimes? }
//     sent when a stream response has been fully written.
//
// The job id (from the `name` of `POST /v1/jobs`, or a baseline's own
// choice) chooses the scenario:
//   tp-<N>              throughput: N training.log frames written as fast as
//                       the socket takes them (pre-rendered, so the server
//                       costs little CPU), then training.completed.
//   lat-<N>-<us>        latency: N frames, one every <us> microseconds, each
//                       stamped at write time (performance.timeOrigin +
//                       performance.now(), ms); the write times are sent back
//                       over IPC, indexed by step.
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";

const now = () => performance.timeOrigin + performance.now();
const JOB_TIMESTAMP = "2026-01-01T00:00:00.000Z";

function logFrame(jobId, n) {
  const data = {
    type: "training.log",
    jobId,
    timestamp: JOB_TIMESTAMP,
    step: n,
    loss: 2.5 / (1 + n * 1e-4),
    learningRate: 2e-4 * (1 - n / 1e7),
    epoch: n / 1000,
    samplesPerSecond: 41.25 + (n % 7),
  };
  return `id: ${n}\ndata: ${JSON.stringify(data)}\n\n`;
}

function completedFrame(jobId, n) {
  const data = { type: "training.completed", jobId, timestamp: JOB_TIMESTAMP, artifacts: [] };
  return `id: ${n}\ndata: ${JSON.stringify(data)}\n\n`;
}

// Pre-rendered throughput bodies, cached by event count.
const rendered = new Map();
function throughputChunks(jobId, n) {
  const key = `${jobId}`;
  if (rendered.has(key)) {
    const chunks = rendered.get(key);
    rendered.delete(key); // most recently used last
    rendered.set(key, chunks);
    return chunks;
  }
  const chunks = [];
  let parts = [];
  let size = 0;
  for (let i = 1; i <= n; i++) {
    const f = logFrame(jobId, i);
    parts.push(f);
    size += f.length;
    if (size >= 64 * 1024) {
      chunks.push(Buffer.from(parts.join("")));
      parts = [];
      size = 0;
    }
  }
  parts.push(completedFrame(jobId, n + 1));
  chunks.push(Buffer.from(parts.join("")));
  // Keep the few most recent bodies (warm-up, measured, memory run).
  if (rendered.size >= 3) rendered.delete(rendered.keys().next().value);
  rendered.set(key, chunks);
  return chunks;
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
      } catch {
        resolve(null);
      }
    });
  });
}

async function streamThroughput(res, jobId, n) {
  const chunks = throughputChunks(jobId, n);
  let bytes = 0;
  const firstWriteAt = now();
  for (const c of chunks) {
    bytes += c.length;
    if (!res.write(c)) {
      if (res.destroyed) throw new Error("client went away");
      await new Promise((resolve, reject) => {
        const onDrain = () => {
          res.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          res.off("drain", onDrain);
          reject(new Error("client went away"));
        };
        res.once("drain", onDrain);
        res.once("close", onClose);
      });
    }
  }
  const lastWriteAt = now();
  res.end();
  process.send({ type: "stream", jobId, firstWriteAt, lastWriteAt, frames: n + 1, bytes });
}

function streamPaced(res, jobId, n, intervalUs) {
  const writeTimes = new Float64Array(n + 1);
  const intervalMs = intervalUs / 1000;
  let i = 1;
  let firstWriteAt = 0;
  let last = 0;
  return new Promise((resolve) => {
    res.on("close", resolve);
    const writeOne = () => {
      const f = logFrame(jobId, i);
      const t = now();
      if (i === 1) firstWriteAt = t;
      writeTimes[i] = t;
      res.write(f);
      last = performance.now();
      i++;
    };
    const tick = () => {
      if (performance.now() - last < intervalMs) {
        setImmediate(tick); // sub-millisecond gap: poll
        return;
      }
      writeOne();
      if (i > n) {
        const lastWriteAt = now();
        res.end(completedFrame(jobId, n + 1));
        process.send({ type: "stream", jobId, firstWriteAt, lastWriteAt, frames: n + 1, writeTimes: Array.from(writeTimes) });
        resolve();
        return;
      }
      // One frame per tick. Gaps of 1 ms or more sleep on a timer (which
      // fires after >= 1 ms); shorter gaps poll with setImmediate, which
      // keeps this process busy.
      if (intervalMs >= 1) setTimeout(tick, intervalMs);
      else setImmediate(tick);
    };
    tick();
  });
}

const server = createServer(async (req, res) => {
  const u = new URL(req.url, "http://x");
  if (req.method === "POST" && u.pathname === "/v1/jobs") {
    const body = await readBody(req);
    const name = body?.name ?? "run";
    const job = {
      id: name,
      orgId: "o1",
      projectId: "p1",
      name,
      status: "queued",
      config: body?.config ?? {},
      createdAt: JOB_TIMESTAMP,
      startedAt: null,
      completedAt: null,
    };
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify({ job }));
    return;
  }
  const m = /^\/v1\/jobs\/([^/]+)\/events\/stream$/.exec(u.pathname);
  if (req.method === "GET" && m) {
    const jobId = decodeURIComponent(m[1]);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    let p;
    if ((p = /^tp-(\d+)$/.exec(jobId))) {
      await streamThroughput(res, jobId, Number(p[1])).catch(() => {});
    } else if ((p = /^lat-(\d+)-(\d+)$/.exec(jobId))) {
      await streamPaced(res, jobId, Number(p[1]), Number(p[2]));
    } else {
      res.end(completedFrame(jobId, 1));
    }
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: `no route for ${req.method} ${u.pathname}` }));
});

process.on("message", (msg) => {
  if (msg?.type === "ping") process.send({ type: "pong", t: msg.t, server: now() });
  else if (msg?.type === "prepare") {
    // Render a throughput body ahead of time, outside any measurement.
    throughputChunks(msg.jobId, msg.events);
    process.send({ type: "prepared", jobId: msg.jobId });
  } else if (msg?.type === "exit") {
    server.close();
    process.exit(0);
  }
});
process.on("disconnect", () => process.exit(0));

server.listen(0, "127.0.0.1", () => {
  process.send({ type: "ready", port: server.address().port });
});
