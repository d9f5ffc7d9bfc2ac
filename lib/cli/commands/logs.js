"use strict";

// `arkor logs <jobId> [--follow]`: a job's events as lines; with --follow,
// keep printing new ones until the job ends (Ctrl-C stops following; the
// job itself goes on).

const { connect, getJob, isTerminal } = require("../backend.js");
const { describeEvent } = require("../format.js");
const { fromNative } = require("../../errors.js");

async function runLogs({ jobId, follow = false, cwd = process.cwd() } = {}) {
  // With --follow, Ctrl-C from the very start means "stop following".
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  if (follow) process.on("SIGINT", onSigint);
  try {
    await show(jobId, follow, cwd, controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (controller.signal.aborted) {
    process.stderr.write(`Stopped following job ${jobId} (the job goes on; \`arkor cancel ${jobId}\` stops it).\n`);
  }
}

async function show(jobId, follow, cwd, signal) {
  const backend = await connect({ cwd });
  const { job, events } = await getJob(backend, jobId);
  const print = (ev) => {
    const line = describeEvent(ev, job);
    if (line) process.stdout.write(`${line}\n`);
  };
  process.stdout.write(`Job ${job.id} (${job.name ?? "unnamed"}): ${job.status}\n`);
  let lastId;
  for (const ev of events || []) {
    print(ev);
    if (ev.id !== undefined) lastId = String(ev.id);
  }
  if (!follow || isTerminal(job.status)) return;

  // The SDK's own event stream: resumes after the last event shown,
  // reconnects with backoff, drops a silent connection, and ends after the
  // job's terminal event.
  const native = require("../../native");
  const follower = new native.EventFollower({
    baseUrl: backend.baseUrl,
    credentials: backend.credentials,
    scope: backend.scope,
    jobId,
    lastEventId: lastId ?? null,
  });
  const handle = new native.AbortHandle();
  const onAbort = () => handle.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const batch = await follower.next(handle);
      if (batch === null) return;
      for (const text of batch) {
        const ev = JSON.parse(text);
        if (ev !== null && typeof ev === "object") print(ev);
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw fromNative(err);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

module.exports = { runLogs };
