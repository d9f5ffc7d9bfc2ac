// Recipe: docs/cookbook/early-stopping.mdx (src/arkor/trainer.ts)
import { createTrainer } from "arkor";

const LOSS_CEILING = 5.0;        // tune to your dataset

export function makeTrainer() {
  const controller = new AbortController();

  const trainer = createTrainer({
    name: "support-bot-v1",
    model: "unsloth/gemma-4-E4B-it",
    dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
    lora: { r: 16, alpha: 16 },
    maxSteps: 100,
    abortSignal: controller.signal,
    callbacks: {
      onLog: ({ step, loss }) => {
        if (loss === null) return;
        if (!Number.isFinite(loss) || loss > LOSS_CEILING) {
          console.warn(`step=${step} loss=${loss} exceeds ceiling, aborting`);
          controller.abort();
        }
      },
    },
  });

  return { trainer, controller };
}

// Variation: smoothed threshold over a rolling window.
export function makeSmoothedTrainer() {
  const controller = new AbortController();
  const recent: number[] = [];
  const WINDOW = 10;

  const trainer = createTrainer({
    name: "support-bot-v1",
    model: "unsloth/gemma-4-E4B-it",
    dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
    abortSignal: controller.signal,
    callbacks: {
      onLog: ({ step, loss }) => {
        if (loss === null || !Number.isFinite(loss)) return;
        recent.push(loss);
        if (recent.length > WINDOW) recent.shift();
        const avg = recent.reduce((a, b) => a + b, 0) / recent.length;
        if (recent.length === WINDOW && avg > LOSS_CEILING) {
          controller.abort();
        }
      },
    },
  });

  return { trainer, controller };
}

// Variation: patience-based early stopping.
export function makePatientTrainer() {
  const controller = new AbortController();
  let best = Infinity;
  let stalled = 0;
  const PATIENCE = 30;

  const trainer = createTrainer({
    name: "support-bot-v1",
    model: "unsloth/gemma-4-E4B-it",
    dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
    abortSignal: controller.signal,
    callbacks: {
      onLog: ({ step, loss }) => {
        if (loss === null || !Number.isFinite(loss)) return;
        if (loss < best) {
          best = loss;
          stalled = 0;
        } else {
          stalled++;
          if (stalled >= PATIENCE) {
            console.warn(`no improvement for ${PATIENCE} steps, aborting at ${step}`);
            controller.abort();
          }
        }
      },
    },
  });

  return { trainer, controller };
}
