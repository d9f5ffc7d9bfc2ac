// Recipe: docs/cookbook/programmatic-runs.mdx, multiple trainers from one
// process (the docs' `/* ... */` inputs filled in).
import { createTrainer } from "arkor";

const a = createTrainer({
  name: "support-bot-a",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
});
const b = createTrainer({
  name: "support-bot-b",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
});

// Sequential
const ra = await a.wait();   // calls start() implicitly
const rb = await b.wait();

// Concurrent
const [ra2, rb2] = await Promise.all([a.wait(), b.wait()]);

console.log(ra.job.status, rb.job.status, ra2.job.status, rb2.job.status);
