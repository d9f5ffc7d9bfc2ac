// The main demo: the mid-run evaluation recipe from the upstream docs
// (docs/cookbook/mid-run-eval.mdx), changed only in its `model` and
// `dataset` lines so it trains the real Gemma 3 270M on the bundled
// support-ticket triage set, on this machine, with the embedded backend.
//
// Run from the repository root: `npm run demo`.
import { createTrainer } from "arkor";

const GOLDEN_PROMPT = [
  { role: "user" as const, content: "I can't log in to my account." },
];

export const trainer = createTrainer({
  name: "support-bot-v1",
  model: "google/gemma-3-270m",
  dataset: { type: "blob", url: `file://${process.cwd()}/examples/data/triage.jsonl` },
  lora: { r: 16, alpha: 16 },
  maxSteps: 100,
  callbacks: {
    onCheckpoint: async ({ step, infer }) => {
      try {
        const res = await infer({
          messages: GOLDEN_PROMPT,
          stream: false,        // get a single JSON body so this snippet stays short
          maxTokens: 80,
        });
        const data = (await res.json()) as {
          choices: Array<{ message: { content?: string | null } }>;
        };
        const sample = data.choices[0]?.message.content ?? "";
        console.log(`step=${step} sample=${JSON.stringify(sample.slice(0, 80))}`);
      } catch (err) {
        console.error(`step=${step} infer failed:`, err);
      }
    },
  },
});
