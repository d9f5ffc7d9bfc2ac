// Recipe: docs/sdk/callbacks.mdx
import { createTrainer } from "arkor";

// Minimal: log every event.
const trainer = createTrainer({
  name: "support-bot-v1",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: {
    onStarted: ({ job }) => console.log(`run ${job.id} accepted`),
    onLog: ({ step, loss }) => {
      if (loss !== null) console.log(`step=${step} loss=${loss.toFixed(4)}`);
    },
    onCheckpoint: async ({ step, infer }) => {
      const res = await infer({
        messages: [{ role: "user", content: "Hello" }],
      });
      console.log(`ckpt @ ${step}:`, await res.text());
    },
    onCompleted: ({ job }) => console.log(`run ${job.id} done`),
    onFailed: ({ error }) => console.error(`failed: ${error}`),
  },
});

await trainer.start();
await trainer.wait();

// The per-callback snippets from the same page, gathered on one trainer.
// `forwardToMetrics`, `saveAdapterId` and `sendToReview` stand in for the
// reader's own code.
function forwardToMetrics(_m: {
  step: number;
  loss: number;
  evalLoss: number | null;
}): void {}
function saveAdapterId(_a: { jobId: string; count: number }): void {}
async function sendToReview(_r: { step: number; sample: string }): Promise<void> {}

export const annotated = createTrainer({
  name: "support-bot-v1",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: {
    onStarted: ({ job }) => {
      // job: TrainingJob (id, name, status, config, ...)
      void job;
    },
    onLog: ({ step, loss, evalLoss }) => {
      if (loss !== null) {
        forwardToMetrics({ step, loss, evalLoss });
      }
    },
    // Catch inside a callback to keep a recoverable failure local instead of
    // letting it reject `wait()`.
    onCheckpoint: async ({ step, infer }) => {
      try {
        await sendToReview({
          step,
          sample: await (
            await infer({ messages: [{ role: "user", content: "Can't log in" }] })
          ).text(),
        });
      } catch (err) {
        // log / metric / decide whether to fail the run yourself by calling
        // trainer.cancel() from outside the callback
      }
    },
    onCompleted: ({ job, artifacts }) => {
      saveAdapterId({ jobId: job.id, count: artifacts.length });
    },
    onFailed: ({ job, error }) => {
      // error: string
      const message: string = error;
      void job;
      void message;
    },
  },
});
