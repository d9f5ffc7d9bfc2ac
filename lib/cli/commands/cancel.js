"use strict";

// `arkor cancel <jobId>`: ask the backend to stop a job. On the local
// backend this works for a job that another live process is training: the
// owner's training thread picks the cancel up from the shared store.

const { connect, getJob, isTerminal } = require("../backend.js");

async function runCancel({ jobId, cwd = process.cwd() } = {}) {
  const backend = await connect({ cwd });
  const { job } = await getJob(backend, jobId);
  if (isTerminal(job.status)) {
    process.stdout.write(`Job ${jobId} already ${job.status}; nothing to cancel.\n`);
    return;
  }
  await backend.client.cancelJob(jobId, backend.scope);
  process.stdout.write(`Cancelled job ${jobId}.\n`);
}

module.exports = { runCancel };
