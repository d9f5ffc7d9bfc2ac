// Recipe: docs/sdk/trainer-control.mdx
import { createTrainer, type TrainingResult } from "arkor";

// `abortSignal`: stop the local wait() from anywhere.
export function withTimeout() {
  const controller = new AbortController();

  const trainer = createTrainer({
    name: "with-timeout",
    model: "unsloth/gemma-4-E4B-it",
    dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
    abortSignal: controller.signal,
  });

  // Later, from anywhere:
  controller.abort();

  return { trainer, controller };
}

// start / wait / cancel, and the abort-then-cancel sequence.
export async function control(): Promise<TrainingResult | undefined> {
  const { trainer, controller } = withTimeout();

  const { jobId } = await trainer.start();
  console.log(jobId);

  let result: TrainingResult | undefined;
  try {
    result = await trainer.wait();
    const { job, artifacts } = result;
    console.log(job.status, artifacts.length);
  } catch (err) {
    if (controller.signal.aborted) {
      // expected: we asked wait() to stop
    } else {
      throw err;
    }
  }
  await trainer.cancel(); // best-effort; see above
  return result;
}

// Two-process pattern (the docs' `/* ... */` input filled in).
const controller = new AbortController();
process.on("SIGINT", () => controller.abort());

const trainer = createTrainer({
  name: "support-bot-v1",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  abortSignal: controller.signal, // wired so abort() actually rejects wait()
});

const { jobId } = await trainer.start();
console.log(`Started ${jobId}`);

try {
  const { artifacts } = await trainer.wait();
  console.log(`Finished with ${artifacts.length} artifact(s).`);
} catch (err) {
  if (controller.signal.aborted) {
    await trainer.cancel().catch(() => {});
    throw new Error("Aborted by signal");
  }
  throw err;
}
