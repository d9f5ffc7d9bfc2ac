"use strict";

// The starter templates of `arkor init`: what each trains, and the files it
// writes. The datasets next to this file are made by make-datasets.mjs.

const path = require("node:path");

const DEFAULT_MODEL = "google/gemma-3-270m";

const TEMPLATES = {
  triage: {
    label: "Support ticket triage",
    hint: "ticket in, {category, priority} JSON out",
    trainerName: "triage-v1",
    prompt: "Hi, I was charged twice for order #48213.",
  },
  translate: {
    label: "English to French",
    hint: "short travel phrases",
    trainerName: "translate-v1",
    prompt: "Where is the train station?",
  },
  redaction: {
    label: "Personal data redaction",
    hint: "names, emails and phones become placeholders",
    trainerName: "redaction-v1",
    prompt: "Call Maria Lopez on +1 555 201 3344 or write to maria.lopez@example.com.",
  },
};

const datasetFile = (id) => path.join(__dirname, `${id}.jsonl`);

function trainerTs(id) {
  const t = TEMPLATES[id];
  return `// The trainer: which model to fine-tune, on what data, for how long.
// \`arkor start\` runs it (on this machine, unless ARKOR_CLOUD_API_URL or
// \`arkor login\` points arkor at a remote backend).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createTrainer } from "arkor";

export const trainer = createTrainer({
  name: ${JSON.stringify(t.trainerName)},
  model: ${JSON.stringify(DEFAULT_MODEL)},
  dataset: { type: "blob", url: pathToFileURL(resolve("data/${id}.jsonl")).href },
  lora: { r: 16, alpha: 16 },
  maxSteps: 60,
  learningRate: 2e-4,
  trainOnResponsesOnly: true,
  callbacks: {
    onCompleted: ({ job }) => {
      console.log(\`Try it: npx arkor chat \${job.id} --prompt ${JSON.stringify(t.prompt).replace(/`/g, "\\`")}\`);
    },
  },
});
`;
}

const INDEX_TS = `import { createArkor } from "arkor";
import { trainer } from "./trainer";

export const arkor = createArkor({ trainer });
`;

/** The scripts a scaffolded package.json runs arkor with (missing ones are added to an existing file). */
const SCRIPTS = { dev: "arkor dev", build: "arkor build", start: "arkor start" };

/** A new project's package.json; `dependency` is project-setup.js's `arkorDependency()`. */
function packageJson(name, dependency) {
  return `${JSON.stringify(
    {
      name,
      version: "0.0.0",
      private: true,
      type: "module",
      scripts: SCRIPTS,
      devDependencies: { arkor: dependency.spec },
      allowScripts: dependency.allowScripts,
    },
    null,
    2,
  )}\n`;
}

function readme(name, id) {
  const t = TEMPLATES[id];
  return `# ${name}

A fine-tuning project made by \`arkor init --template ${id}\`: ${t.label.toLowerCase()} (${t.hint}).

- \`src/arkor/trainer.ts\`: the trainer (model, dataset, LoRA, steps)
- \`data/${id}.jsonl\`: the training data, chatml JSONL

\`\`\`sh
npm install
npx arkor models pull ${DEFAULT_MODEL}   # once, about 250 MB
npx arkor start                          # train; Ctrl-C cancels
npx arkor dev                            # Studio: runs, charts, playground
npx arkor jobs                           # this project's jobs
npx arkor chat <jobId>                   # talk to the result
\`\`\`
`;
}

module.exports = { TEMPLATES, DEFAULT_MODEL, SCRIPTS, datasetFile, trainerTs, INDEX_TS, packageJson, readme };
