"use strict";

// `arkor logs <jobId> [--follow]`: a job's events as lines; with --follow,
// keep printing new ones until the job ends (Ctrl-C stops following; the
// job itself goes on).

const { connect, getJob } = require("../backend.js");
const { describeEvent } = require("../format.js");
const { sseFrames } = require("../sse.js");

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

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
  if (!follow || TERMINAL.has(job.status)) return;

  // The stream ends after the job's terminal event (`event: end`); a
  // dropped connection is resumed from the last event seen.
  while (!signal.aborted) {
    let ended = false;
    try {
      const res = await backend.client.openEventStream(jobId, backend.scope, { lastEventId: lastId, signal });
      for await (const frame of sseFrames(res)) {
        if (frame.event === "end") {
          ended = true;
          break;
        }
        if (frame.event !== "message") continue;
        if (frame.id !== undefined) lastId = frame.id;
        let ev;
        try {
          ev = JSON.parse(frame.data);
        } catch {
          continue;
        }
        print(ev);
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if (ended) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

module.exports = { runLogs };
