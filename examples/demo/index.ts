// The main demo: the mid-run evaluation recipe from the upstream docs
// (docs/cookbook/mid-run-eval.mdx), changed only in its `model` and
// `dataset` lines so it trains the real Gemma 3 270M on the bundled
// support-ticket triage set, on this machine, with the embedded backend.
// Added below the recipe's own sample: at each checkpoint the half-trained
// model also triages the eval file (tickets written apart from the training
// rows), and the demo prints how many answers are valid triage JSON with the
// right category and team.
//
// Run from the repository root: `npm run demo`.
import { createTrainer, type InferArgs } from "arkor";
import { existsSync, readFileSync } from "node:fs";

const GOLDEN_PROMPT = [
  { role: "user" as const, content: "I can't log in to my account." },
];

export const trainer = createTrainer({
  name: "support-bot-v1",
  model: "google/gemma-3-270m",
  dataset: { type: "blob", url: `file://${process.cwd()}/examples/data/triage.jsonl` },
  lora: { r: 16, alpha: 16 },
  maxSteps: 100,
  learningRate: 5e-4,
  // Added: four checkpoints, each scored on the eval file below (about 2000
  // generated tokens a time), and the eval loss on held-out rows beside them.
  saveSteps: 25,
  evalSteps: 25,
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
      await scoreEvalFile(step, infer);
    },
  },
});

// --- Added to the recipe: scoring the eval file ---------------------------

const EVAL_FILE = `${process.cwd()}/examples/data/triage-eval.jsonl`;

interface Triage { category: string; priority: string; team: string; summary: string }
type Infer = (args: InferArgs) => Promise<Response>;

const evalRows: Array<{ ticket: string; want: Triage }> = existsSync(EVAL_FILE)
  ? readFileSync(EVAL_FILE, "utf8").trim().split("\n").map((line) => {
      const { messages } = JSON.parse(line);
      return { ticket: messages[0].content, want: JSON.parse(messages[1].content) };
    })
  : [];

/** The answer as triage JSON (an object with the four string fields), else null. */
function asTriage(text: string): Triage | null {
  try {
    const v = JSON.parse(text.trim());
    const ok = v && typeof v === "object" && ["category", "priority", "team", "summary"].every((k) => typeof v[k] === "string");
    return ok ? v : null;
  } catch {
    return null;
  }
}

async function scoreEvalFile(step: number, infer: Infer) {
  if (evalRows.length === 0) return;
  const t0 = Date.now();
  let valid = 0, category = 0, team = 0;
  for (const { ticket, want } of evalRows) {
    const res = await infer({ messages: [{ role: "user", content: ticket }], stream: false, temperature: 0, maxTokens: 64 });
    const got = asTriage(((await res.json()) as { content?: string }).content ?? "");
    if (!got) continue;
    valid++;
    if (got.category === want.category) category++;
    if (got.team === want.team) team++;
  }
  const n = evalRows.length;
  const pct = (k: number) => `${k}/${n} (${Math.round((100 * k) / n)}%)`;
  console.log(`step=${step} eval: valid JSON ${pct(valid)} · category ${pct(category)} · team ${pct(team)} · ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}
