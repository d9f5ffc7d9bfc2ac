// The restart test: a standalone `arkor serve` is SIGKILLed while a client
// in another process is following a training job; the server is restarted
// on the same port with the same ARKOR_HOME. The client must reconnect on
// its own (Last-Event-ID), receive every durable event exactly once, and
// end with the job marked failed because its server died mid-run.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ARKOR_ESM, TINY_MODEL, freePort, isolated, jsonLines, makeTempDir, runScript, sqliteEvents, startServe, writeDataset,
} from "./helpers/local-backend.mjs";

test("server SIGKILLed mid-run and restarted: client resumes, no event lost or repeated, job failed", async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // One data dir shared by both server lives; the client gets its own HOME
  // (anonymous credentials land there) and project dir.
  const server = isolated();
  const client = isolated({ ARKOR_CLOUD_API_URL: url });
  const cwd = makeTempDir("arkor-restart-");
  const dataUrl = writeDataset(cwd);

  let srv = await startServe(port, server.env);
  t.after(() => srv.kill("SIGKILL"));

  const h = runScript(
    cwd,
    "client.mjs",
    `
import { createTrainer } from ${JSON.stringify(ARKOR_ESM)};
const emit = (v) => process.stdout.write("@@" + JSON.stringify(v) + "\\n");
const trainer = createTrainer(
  {
    name: "restart",
    model: ${JSON.stringify(TINY_MODEL)},
    dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
    maxSteps: 100000,
    saveSteps: 100000,
    callbacks: {
      onStarted: () => emit({ ev: "started" }),
      // A slow callback keeps the client behind the server, so the kill
      // lands while delivered-but-undispatched events are still queued.
      onLog: async ({ step }) => {
        emit({ ev: "log", step });
        await new Promise((r) => setTimeout(r, 150));
      },
      onCompleted: () => emit({ ev: "completed" }),
      onFailed: ({ error }) => emit({ ev: "failed", error }),
    },
  },
  { reconnectDelayMs: 100, maxReconnectDelayMs: 500 },
);
try {
  const result = await trainer.wait();
  emit({ ev: "result", status: result.job.status, error: result.job.error ?? null });
} catch (e) {
  emit({ ev: "rejected", message: String(e && e.message) });
}
`,
    { env: client.env, timeoutMs: 90_000 },
  );

  // A few steps trained and delivered, then the server dies.
  const isLog = (min) => (l) => l.startsWith("@@") && l.includes('"ev":"log"') && JSON.parse(l.slice(2)).step >= min;
  await h.waitForLine(isLog(5), 60_000);
  srv.kill("SIGKILL");
  const killed = await srv.done;
  assert.equal(killed.signal, "SIGKILL");
  const seenBeforeKill = jsonLines(h.stdout).filter((e) => e.ev === "log").map((e) => e.step);
  const lastBeforeKill = Math.max(...seenBeforeKill);

  // Same port, same ARKOR_HOME (startServe retries while the port is busy).
  srv = await startServe(port, server.env);

  const r = await h.done;
  assert.equal(r.code, 0, `client exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const events = jsonLines(r.stdout);
  const result = events.find((e) => e.ev === "result");
  assert.ok(result, `wait() did not resolve:\n${r.stdout}\n${r.stderr}`);
  assert.equal(result.status, "failed");
  assert.match(result.error, /server stopped while this job was running/);

  const failed = events.filter((e) => e.ev === "failed");
  assert.equal(failed.length, 1, "onFailed must be called exactly once");
  assert.equal(failed[0].error, result.error);
  assert.equal(events.filter((e) => e.ev === "started").length, 1);
  assert.equal(events.filter((e) => e.ev === "completed").length, 0);

  // Every step exactly once, in order, from 1 up to at least the last one
  // seen before the kill: no event repeated, none skipped on resume.
  const steps = events.filter((e) => e.ev === "log").map((e) => e.step);
  const expected = Array.from({ length: steps.length }, (_, i) => i + 1);
  assert.deepEqual(steps, expected, `steps not 1..n without gaps or repeats: ${steps}`);
  assert.ok(steps.at(-1) >= lastBeforeKill);
  assert.ok(steps.length >= 3);
  // ...and exactly the steps the store holds: every durable training.log
  // event reached the client (python3 reads the SQLite file).
  const stored = sqliteEvents(server.arkorHome);
  const storedSteps = stored.filter((e) => e.type === "training.log").map((e) => e.step);
  assert.deepEqual(steps, storedSteps, "the client missed stored events");
  const last = stored.at(-1);
  assert.equal(last.type, "training.failed");
  assert.match(last.error, /server stopped while this job was running/);
  t.diagnostic(`steps seen before the kill: ${seenBeforeKill.length} (last ${lastBeforeKill}); after resume: ${steps.length - seenBeforeKill.length}`);
});
