// index.d.ts: the documented recipes in examples/ type-check against it, code
// consuming the package through node_modules type-checks from both ESM and
// CommonJS, and wrong code is rejected (so these checks can fail).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
const TYPE_ROOTS = path.join(ROOT, "node_modules", "@types");

function tsc(project) {
  const r = spawnSync(process.execPath, [TSC, "--noEmit", "-p", project], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

let work;
before(() => {
  work = mkdtempSync(path.join(tmpdir(), "arkor-typecheck-"));
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/**
 * A throwaway consumer project: `node_modules/arkor` links to this repository,
 * so `arkor` resolves through package.json "exports" like an installed copy.
 */
function consumerProject(name, compilerOptions, files) {
  const dir = path.join(work, name);
  mkdirSync(path.join(dir, "node_modules"), { recursive: true });
  symlinkSync(ROOT, path.join(dir, "node_modules", "arkor"), "dir");
  writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "es2022",
        lib: ["es2022"],
        types: ["node"],
        typeRoots: [TYPE_ROOTS],
        ...compilerOptions,
      },
      include: ["*.ts", "*.mts", "*.cts"],
    }),
  );
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

test("examples/ (the documented recipes) type-check", () => {
  const r = tsc(path.join(ROOT, "examples", "tsconfig.json"));
  assert.equal(r.status, 0, r.output);
});

// Both module systems under node16-style resolution, each with positive uses
// and @ts-expect-error lines (an expected error that does not happen is
// itself an error, so the negative cases are enforced too).
const ESM_CONSUMER = `
import {
  createTrainer, createArkor, isArkor, runTrainer, SUPPORTED_MODELS,
  CloudApiError, CloudApiClient, readCredentials, writeCredentials,
  credentialsPath, defaultArkorCloudApiUrl, requestAnonymousToken,
  ensureCredentials, readState, writeState, statePath,
  type Arkor, type ArkorInput, type ArkorProjectState, type BlobDatasetSource,
  type ChatMessage, type DatasetSource, type HuggingfaceDatasetSource,
  type InferArgs, type JobStatus, type LoraConfig, type ResponseFormat,
  type StructuredOutputs, type ToolCall, type ToolChoice, type ToolDefinition,
  type Trainer, type TrainerCallbacks, type TrainerInput, type TrainingJob,
  type TrainingResult, type SupportedModel, type Credentials,
  type OAuthCredentials, type AnonymousCredentials, type CloudApiClientOptions,
  type CreateDeploymentInput, type CreateDeploymentKeyInput,
  type CreateDeploymentKeyResult, type DeploymentAuthMode, type DeploymentDto,
  type DeploymentKeyDto, type DeploymentRunRetentionMode, type DeploymentScope,
  type DeploymentTarget, type UpdateDeploymentInput,
} from "arkor";

const models: readonly SupportedModel[] = SUPPORTED_MODELS;
const tiny: SupportedModel = "arkor/tiny-gemma3";
const small: SupportedModel = "google/gemma-3-270m";
// @ts-expect-error not a supported model
const bad: SupportedModel = "meta/llama";
// @ts-expect-error the list is read-only
SUPPORTED_MODELS.push("x");

const input: TrainerInput = {
  name: "n",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "blob", url: "file:///data.jsonl" },
  lora: { r: 8, alpha: 16, maxLength: 512, loadIn4bit: false },
  maxSteps: 1, numTrainEpochs: 1, learningRate: 1e-4, batchSize: 1,
  optim: "adamw", lrSchedulerType: "linear", weightDecay: 0,
  warmupSteps: 0, loggingSteps: 1, saveSteps: 1, evalSteps: 1,
  trainOnResponsesOnly: true, datasetFormat: "chatml", datasetSplit: "train",
  dryRun: true,
  callbacks: {
    onLog: ({ step, loss, evalLoss, learningRate, epoch, samplesPerSecond, job }) => {
      const n: number | null = loss ?? evalLoss ?? learningRate ?? epoch ?? samplesPerSecond;
      void n; void step; void job.config.model;
    },
    onCheckpoint: async ({ step, adapter, infer, artifacts }) => {
      const k: "checkpoint" = adapter.kind;
      const res: Response = await infer({ messages: [{ role: "user", content: "hi" }], signal: AbortSignal.timeout(10) });
      void k; void step; void res; void artifacts?.length;
    },
    onFailed: ({ error }) => error.toUpperCase(),
  },
  abortSignal: new AbortController().signal,
};
const trainer: Trainer = createTrainer(input, {
  baseUrl: "http://127.0.0.1:1", cwd: "/tmp", reconnectDelayMs: 1,
  maxReconnectDelayMs: 2, maxReconnectAttempts: 3,
});
const manifest: Arkor = createArkor({ trainer });
const emptyManifest: Arkor = createArkor({});
if (isArkor(manifest as unknown)) void manifest.trainer?.name;
const p: Promise<void> = runTrainer();
const started: Promise<{ jobId: string }> = trainer.start();
const result: Promise<TrainingResult> = trainer.wait();

// @ts-expect-error unknown callback name
createTrainer({ ...input, callbacks: { onFinish: () => {} } });
// @ts-expect-error lora needs alpha
createTrainer({ ...input, lora: { r: 8 } });
// @ts-expect-error model is required to be a SupportedModel
createTrainer({ ...input, model: "gpt-4" });
// @ts-expect-error unknown dataset type
const ds: DatasetSource = { type: "file", path: "./x.jsonl" };
// @ts-expect-error an assistant turn needs content or tool_calls
const empty: ChatMessage = { role: "assistant" };
// @ts-expect-error exactly one structured-output constraint
const two: StructuredOutputs = { regex: "a", choice: ["a"] };
// @ts-expect-error tool_calls must be non-empty when content is absent
const noCalls: ChatMessage = { role: "assistant", tool_calls: [] };
// @ts-expect-error manifests are read-only
manifest.trainer = trainer;

const err = new CloudApiError(404, "nope");
const status: number = err.status;
const asError: Error = err;
const creds: Credentials = { mode: "anon", token: "t", anonymousId: "a", arkorCloudApiUrl: "u", orgSlug: "o" };
const client = new CloudApiClient({ baseUrl: "http://x", credentials: creds, fetch, onDeprecation: (n) => void n.sunset });
const scope: DeploymentScope = { orgSlug: "o", projectSlug: "p" };
async function clientCalls() {
  const { job }: { job: TrainingJob } = await client.createJob({ orgSlug: "o", projectSlug: "p", name: "n", config: { model: "any/model", datasetSource: { type: "huggingface", name: "x" } } });
  const js: JobStatus = job.status;
  const { projects } = await client.listProjects("o");
  const slug: string = projects[0]!.slug;
  const { project } = await client.createProject({ orgSlug: "o", name: "n", slug: "s" });
  await client.getJob(job.id, scope);
  await client.cancelJob(job.id, scope);
  const stream: Response = await client.openEventStream(job.id, scope, { lastEventId: "3" });
  const chat: Response = await client.chat({ scope, body: { messages: [], baseModel: "m", stream: false } });
  const { deployments } = await client.listDeployments(scope);
  const dep: DeploymentDto = deployments[0]!;
  await client.getDeployment(dep.id, scope);
  await client.createDeployment(scope, { slug: "s", target: { kind: "base_model", baseModel: "m" }, authMode: "none", runRetentionMode: "days", runRetentionDays: 7 });
  await client.updateDeployment(dep.id, scope, { enabled: false });
  await client.deleteDeployment(dep.id, scope);
  const { keys } = await client.listDeploymentKeys(dep.id, scope);
  const { key } = await client.createDeploymentKey(dep.id, scope, { label: "l" });
  const plaintext: string = key.plaintext;
  await client.revokeDeploymentKey(dep.id, keys[0]!.id, scope);
  // @ts-expect-error "days" needs runRetentionDays
  await client.createDeployment(scope, { slug: "s", target: { kind: "base_model", baseModel: "m" }, authMode: "none", runRetentionMode: "days" });
  void js; void slug; void project; void stream; void chat; void plaintext;
}
async function helpers() {
  const c: Credentials | null = await readCredentials();
  if (c) await writeCredentials(c);
  const url: string = defaultArkorCloudApiUrl(c);
  const anon = await requestAnonymousToken(url, "cli");
  const kind: "cli" | "web" = anon.kind;
  const ensured: Credentials = await ensureCredentials();
  const st: ArkorProjectState | null = await readState("/tmp");
  await writeState({ orgSlug: "o", projectSlug: "p", projectId: "i" }, "/tmp");
  const paths: string[] = [credentialsPath(), statePath(), statePath("/tmp")];
  void kind; void ensured; void st; void paths;
}
// Helper types stay private, as upstream keeps them.
// @ts-expect-error not exported
import type { TrainingLogContext } from "arkor";
// @ts-expect-error not exported
import type { TrainerInternalContext } from "arkor";

export {
  models, tiny, small, bad, emptyManifest, p, started, result, ds, empty, two,
  noCalls, status, asError, clientCalls, helpers,
};
export type {
  ArkorInput, BlobDatasetSource, HuggingfaceDatasetSource, InferArgs,
  LoraConfig, ResponseFormat, ToolCall, ToolChoice, ToolDefinition,
  TrainerCallbacks, OAuthCredentials, AnonymousCredentials,
  CloudApiClientOptions, CreateDeploymentInput, CreateDeploymentKeyInput,
  CreateDeploymentKeyResult, DeploymentAuthMode, DeploymentKeyDto,
  DeploymentRunRetentionMode, DeploymentTarget, UpdateDeploymentInput,
  TrainingLogContext, TrainerInternalContext,
};
`;

const CJS_CONSUMER = `
import arkor = require("arkor");
import type { Trainer, SupportedModel } from "arkor";

const model: SupportedModel = arkor.SUPPORTED_MODELS[1];
const trainer: Trainer = arkor.createTrainer({
  name: "cjs",
  model,
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
});
const manifest = arkor.createArkor({ trainer });
const ok: boolean = arkor.isArkor(manifest);
const run: Promise<void> = arkor.runTrainer("entry.mjs");
// @ts-expect-error not an export
arkor.createJob;
export = { ok, run };
`;

test("ESM (.mts) and CommonJS (.cts) consumers type-check via node_modules", () => {
  const dir = consumerProject(
    "nodenext",
    { module: "nodenext", moduleResolution: "nodenext" },
    { "consumer.mts": ESM_CONSUMER, "consumer.cts": CJS_CONSUMER },
  );
  const r = tsc(dir);
  assert.equal(r.status, 0, r.output);
});

test("wrong code against the package fails to type-check", () => {
  const dir = consumerProject(
    "failing",
    { module: "esnext", moduleResolution: "bundler" },
    {
      "wrong.ts": `
import { createTrainer } from "arkor";
export const trainer = createTrainer({
  name: "bad",
  model: "meta-llama/Llama-3-8B",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: { onLog: ({ stepNumber }) => console.log(stepNumber) },
});
`,
    },
  );
  const r = tsc(dir);
  assert.notEqual(r.status, 0, "tsc accepted code it must reject");
  assert.match(r.output, /wrong\.ts\(5,3\): error TS2322/);
  assert.match(r.output, /meta-llama\/Llama-3-8B/);
  assert.match(r.output, /stepNumber/);
});
