// Type surface of the `arkor` package.
//
// Hand-written; one file types both entry points (`index.mjs` for `import`,
// `index.js` for `require`). The shapes follow the TypeScript SDK `arkor`
// field for field, so code written against that SDK type-checks here
// unchanged. Helper types that the SDK keeps private (not importable by
// name) are declared below without `export`; the trailing `export {}` keeps
// them private.
//
// `Response`, `AbortSignal` and `fetch` come from the consumer's environment
// (`@types/node` or the DOM lib), exactly as with the TypeScript SDK.

import type {
  CreateDeploymentInput,
  CreateDeploymentKeyInput,
  CreateDeploymentKeyResult,
  DeploymentDto,
  DeploymentKeyDto,
  DeploymentScope,
  UpdateDeploymentInput,
} from "./deployments";

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/**
 * Base models `createTrainer` accepts, as a frozen array. `SupportedModel` is
 * derived from it, so the type and the run-time check never disagree.
 */
export declare const SUPPORTED_MODELS: readonly [
  "unsloth/gemma-4-E4B-it",
  "google/gemma-3-270m",
  "arkor/tiny-gemma3",
];

/** One of the model ids listed in `SUPPORTED_MODELS`. */
export type SupportedModel = (typeof SUPPORTED_MODELS)[number];

// ---------------------------------------------------------------------------
// Jobs and datasets
// ---------------------------------------------------------------------------

/** Lifecycle state of a training job as reported by the backend. */
export type JobStatus =
  | "queued"
  | "running"
  | "completed"
  | "failed"
  | "cancelled";

/** A dataset hosted on the Hugging Face Hub. */
export interface HuggingfaceDatasetSource {
  type: "huggingface";
  /** Repository id, e.g. `arkorlab/triage-demo`. */
  name: string;
  split?: string;
  subset?: string;
}

/** A dataset file the backend downloads from a URL. */
export interface BlobDatasetSource {
  type: "blob";
  url: string;
  /** Credential the backend presents when fetching `url`. */
  token?: string;
}

/** Where a trainer reads its data from; discriminated on `type`. */
export type DatasetSource = HuggingfaceDatasetSource | BlobDatasetSource;

/**
 * The settings `TrainerInput` and the job config share: the SDK sends them
 * under the same names, as given. Not importable by name.
 */
interface TrainingSettings {
  /** Cap on optimiser steps. */
  maxSteps?: number;
  numTrainEpochs?: number;
  learningRate?: number;
  batchSize?: number;
  optim?: string;
  lrSchedulerType?: string;
  weightDecay?: number;
  /** Passed through to the backend unchanged. */
  warmupSteps?: unknown;
  /** Passed through to the backend unchanged. */
  loggingSteps?: unknown;
  /** Passed through to the backend unchanged. */
  saveSteps?: unknown;
  /** Passed through to the backend unchanged. */
  evalSteps?: unknown;
  /** Passed through to the backend unchanged. */
  trainOnResponsesOnly?: unknown;
  /** Passed through to the backend unchanged. */
  datasetFormat?: unknown;
  /** Passed through to the backend unchanged. */
  datasetSplit?: unknown;
  /** Smoke-test run: small data sample, few steps. */
  dryRun?: boolean;
}

/**
 * Job configuration as sent to (and echoed back by) the backend. Not
 * importable by name; reachable as `TrainingJob["config"]`.
 */
interface JobConfig extends TrainingSettings {
  /** Plain `string`: a job read back from the server may name any model. */
  model: string;
  datasetSource: DatasetSource;
  loraR?: number;
  loraAlpha?: number;
  maxLength?: number;
  loadIn4bit?: boolean;
}

/** A training job record. Timestamps are ISO-8601 strings. */
export interface TrainingJob {
  id: string;
  orgId: string;
  projectId: string;
  name: string;
  status: JobStatus;
  config: JobConfig;
  error?: string | null;
  createdAt: string;
  startedAt?: string | null;
  completedAt?: string | null;
}

/** What `Trainer.wait()` resolves with once the job reaches an end state. */
export interface TrainingResult {
  job: TrainingJob;
  /** Artifact list exactly as the backend reported it. */
  artifacts: unknown[];
}

// ---------------------------------------------------------------------------
// Chat / inference
// ---------------------------------------------------------------------------

/** A function call emitted by the model (OpenAI wire shape, snake_case). */
export interface ToolCall {
  id: string;
  type: "function";
  function: {
    name: string;
    /** The call's arguments, JSON-encoded (may arrive in partial deltas). */
    arguments: string;
  };
}

/**
 * One chat turn. Assistant turns come in two forms so that an assistant
 * message must carry text, a non-empty `tool_calls` list, or both.
 */
export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | {
      role: "assistant";
      content: string;
      tool_calls?: ToolCall[];
    }
  | {
      role: "assistant";
      /** Absent or `null` when the turn only calls tools. */
      content?: string | null;
      tool_calls: [ToolCall, ...ToolCall[]];
    }
  | { role: "tool"; content: string; tool_call_id: string };

/** A callable tool offered to the model. */
export interface ToolDefinition {
  type: "function";
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments object. */
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

/** How the model may use the offered tools (OpenAI semantics). */
export type ToolChoice =
  | "auto"
  | "none"
  | "required"
  | { type: "function"; function: { name: string } };

/** OpenAI-compatible `response_format`. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | {
      type: "json_schema";
      json_schema: {
        name: string;
        description?: string;
        schema: Record<string, unknown>;
        strict?: boolean;
      };
    };

/** Union of single-key records: one key of `T` set, every other key barred. */
type ExactlyOne<T> = {
  [K in keyof T]: Record<K, T[K]> & Partial<Record<Exclude<keyof T, K>, never>>;
}[keyof T];

/** Decoder options that may accompany any structured-output constraint. */
interface StructuredOutputsCommon {
  disable_any_whitespace?: boolean;
  disable_additional_properties?: boolean;
  whitespace_pattern?: string;
}

/**
 * vLLM-style decoding constraint: exactly one of `json`, `regex`, `choice`,
 * `grammar`, `json_object`, plus optional tuning fields. Keys are snake_case
 * because they are forwarded to the inference server untouched.
 */
export type StructuredOutputs = ExactlyOne<{
  json: Record<string, unknown>;
  regex: string;
  choice: string[];
  grammar: string;
  json_object: true;
}> &
  StructuredOutputsCommon;

/**
 * The generation settings `infer` and `CloudApiClient.chat` share. Not
 * importable by name.
 */
interface ChatSettings {
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  /** `true` (the default) streams SSE; `false` returns one JSON body. */
  stream?: boolean;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  responseFormat?: ResponseFormat;
  structuredOutputs?: StructuredOutputs;
}

/** Arguments of the `infer` helper handed to `onCheckpoint`. */
export interface InferArgs extends ChatSettings {
  /** Aborts the HTTP request. */
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------

/** Context of `onLog`; a metric the backend did not report is `null`. */
interface TrainingLogContext {
  step: number;
  loss: number | null;
  evalLoss: number | null;
  learningRate: number | null;
  epoch: number | null;
  samplesPerSecond: number | null;
  job: TrainingJob;
}

/** Context of `onCheckpoint`. */
interface CheckpointContext {
  step: number;
  adapter: { kind: "checkpoint"; jobId: string; step: number };
  job: TrainingJob;
  /**
   * Chat with the model as of this checkpoint. Resolves the raw `Response`
   * (stream it from `.body`, or `.json()` it with `stream: false`); every
   * call is a fresh request.
   */
  infer: (args: InferArgs) => Promise<Response>;
  /** Artifacts listed on the checkpoint event, when the backend sends them. */
  artifacts?: unknown[];
}

/** A callback may return anything, or a promise that is awaited. */
type MaybePromise<T> = T | Promise<T>;

/**
 * Lifecycle hooks dispatched by `Trainer.wait()`, one at a time, in event
 * order. `TrainerInput.callbacks` takes any subset of them.
 */
export interface TrainerCallbacks {
  onStarted: (ctx: { job: TrainingJob }) => MaybePromise<unknown>;
  onLog: (ctx: TrainingLogContext) => MaybePromise<unknown>;
  onCheckpoint: (ctx: CheckpointContext) => MaybePromise<unknown>;
  onCompleted: (ctx: {
    job: TrainingJob;
    artifacts: unknown[];
  }) => MaybePromise<unknown>;
  onFailed: (ctx: { job: TrainingJob; error: string }) => MaybePromise<unknown>;
}

/** LoRA adapter and quantisation settings. */
export interface LoraConfig {
  /** Adapter rank. */
  r: number;
  /** Scaling numerator (effective scale is `alpha / r`). */
  alpha: number;
  /** Token limit per sample; longer samples are truncated. */
  maxLength?: number;
  /** Keep the base weights in 4-bit (QLoRA). */
  loadIn4bit?: boolean;
}

/** Everything `createTrainer` needs to describe one fine-tuning run. */
export interface TrainerInput extends TrainingSettings {
  /** Run name shown in job listings. */
  name: string;
  /** Base model; must be one of `SUPPORTED_MODELS`. */
  model: SupportedModel;
  dataset: DatasetSource;
  lora?: LoraConfig;
  callbacks?: Partial<TrainerCallbacks>;
  /**
   * Stops the local `wait()` (it rejects with `signal.reason`). Does not
   * cancel the job on the backend; call `Trainer.cancel()` for that.
   */
  abortSignal?: AbortSignal;
}

/** Handle on one training run. */
export interface Trainer {
  /** The `name` given to `createTrainer`. */
  readonly name: string;
  /** Submit the job (once; later calls return the same id). */
  start(): Promise<{ jobId: string }>;
  /** Follow the job's events, run the callbacks, resolve at the end. */
  wait(): Promise<TrainingResult>;
  /** Ask the backend to cancel the job; a no-op before `start()`. */
  cancel(): Promise<void>;
}

/**
 * Optional second argument of `createTrainer`, for tests and advanced
 * overrides. Not importable by name; its shape may change.
 */
interface TrainerInternalContext {
  /** Backend base URL, bypassing environment and credential lookup. */
  baseUrl?: string;
  /** Credentials to use instead of `~/.arkor/credentials.json`. */
  credentials?: Credentials;
  /** Project directory (for `.arkor/state.json`); default `process.cwd()`. */
  cwd?: string;
  /** First reconnect delay of the event stream, in ms (default 1000). */
  reconnectDelayMs?: number;
  /** Upper bound of the exponential reconnect delay, in ms (default 60000). */
  maxReconnectDelayMs?: number;
  /** Consecutive failed reconnects before `wait()` rejects (default: no limit). */
  maxReconnectAttempts?: number;
  /**
   * Drop and resume the event stream after this many ms without a byte, not
   * even a keepalive ping (default 45000, three of the backend's 15 s pings).
   * Not in upstream, whose `wait()` hangs on such a connection.
   */
  streamIdleTimeoutMs?: number;
}

/**
 * Define a training run. Throws at once when `input.model` is not one of
 * `SUPPORTED_MODELS`; nothing is sent until `start()` or `wait()`.
 */
export declare function createTrainer(
  input: TrainerInput,
  /** @internal */
  context?: TrainerInternalContext,
): Trainer;

// ---------------------------------------------------------------------------
// Project manifest and runner
// ---------------------------------------------------------------------------

/** Frozen project manifest returned by `createArkor`. */
export interface Arkor {
  /** Marker checked by `isArkor`. */
  readonly _kind: "arkor";
  readonly trainer?: Trainer;
}

/** Input of `createArkor`. */
export interface ArkorInput {
  trainer?: Trainer;
}

/** Bundle a project's primitives into the manifest the CLI looks for. */
export declare function createArkor(input: ArkorInput): Arkor;

/** True for any non-null object whose `_kind` is `"arkor"`. */
export declare function isArkor(value: unknown): value is Arkor;

/**
 * Import a training entry (default `src/arkor/index.ts`), pick its trainer
 * (`arkor.trainer`, then `trainer`, then the default export), and run
 * `start()` + `wait()`, printing the job id and the final status.
 */
export declare function runTrainer(file?: string): Promise<void>;

// ---------------------------------------------------------------------------
// Credentials and project state
// ---------------------------------------------------------------------------

/** Credentials obtained through `arkor login` (OAuth). */
export interface OAuthCredentials {
  mode: "oauth";
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  auth0Domain: string;
  audience: string;
  clientId: string;
  /** Backend the login was made against (absent in older files). */
  arkorCloudApiUrl?: string;
}

/** An anonymous identity minted by the backend. */
export interface AnonymousCredentials {
  mode: "anon";
  token: string;
  anonymousId: string;
  arkorCloudApiUrl: string;
  /** Slug of the personal org created with the identity. */
  orgSlug: string;
}

/** Contents of `~/.arkor/credentials.json`. */
export type Credentials = OAuthCredentials | AnonymousCredentials;

/**
 * Read `~/.arkor/credentials.json`: `null` when it is missing or not valid
 * JSON; rejects when the file exists but cannot be read.
 */
export declare function readCredentials(): Promise<Credentials | null>;

/** Write `~/.arkor/credentials.json` atomically with mode 0600. */
export declare function writeCredentials(
  credentials: Credentials,
): Promise<void>;

/** Absolute path of `~/.arkor/credentials.json`. */
export declare function credentialsPath(): string;

/**
 * Backend base URL: `ARKOR_CLOUD_API_URL` if set, else the URL recorded in
 * `credentials`, else the default backend. Trailing slashes are removed.
 */
export declare function defaultArkorCloudApiUrl(
  credentials?: Credentials | null,
): string;

/** `POST /v1/auth/anonymous` against `baseUrl`. */
export declare function requestAnonymousToken(
  baseUrl: string,
  kind?: "cli" | "web",
): Promise<{
  token: string;
  anonymousId: string;
  kind: "cli" | "web";
  orgSlug: string;
}>;

/**
 * Stored credentials, or a freshly minted anonymous identity (persisted)
 * when there are none.
 */
export declare function ensureCredentials(): Promise<Credentials>;

/** Contents of `<project>/.arkor/state.json`. */
export interface ArkorProjectState {
  orgSlug: string;
  projectSlug: string;
  projectId: string;
}

/** Read `<cwd>/.arkor/state.json`; `null` when missing or malformed. */
export declare function readState(
  cwd?: string,
): Promise<ArkorProjectState | null>;

/** Write `<cwd>/.arkor/state.json`, creating `.arkor/` if needed. */
export declare function writeState(
  state: ArkorProjectState,
  cwd?: string,
): Promise<void>;

/** Path of `<cwd>/.arkor/state.json` (cwd defaults to `process.cwd()`). */
export declare function statePath(cwd?: string): string;

// ---------------------------------------------------------------------------
// Deployments: their shapes are in deployments.d.ts, as upstream keeps them
// in a module of their own.
// ---------------------------------------------------------------------------

export * from "./deployments";

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

/** Raised for a non-2xx answer from the backend. */
export declare class CloudApiError extends Error {
  /** HTTP status code. */
  status: number;
  constructor(status: number, message: string);
}

/** A `Deprecation: true` response header, decoded. */
interface DeprecationNotice {
  sdkVersion: string;
  message: string;
  sunset: string | null;
}

/** Options of `new CloudApiClient(...)`. */
export interface CloudApiClientOptions {
  baseUrl: string;
  credentials: Credentials;
  /** `fetch` implementation to use (defaults to the global one). */
  fetch?: typeof fetch;
  /** Receives deprecation notices instead of the process-wide recorder. */
  onDeprecation?: (notice: DeprecationNotice) => void;
}

/** A project row (extra server fields are kept). */
type ProjectRecord = {
  [x: string]: unknown;
  id: string;
  slug: string;
  name: string;
  orgId: string;
};

/** Scope of job-level calls. */
type JobScope = { orgSlug: string; projectSlug: string };

/** Typed client for the Arkor HTTP API. Rejects with `CloudApiError`. */
export declare class CloudApiClient {
  private readonly rpc;
  private readonly baseUrl;
  private readonly fetchImpl;
  private readonly token;
  private readonly onDeprecation;
  constructor(options: CloudApiClientOptions);
  private authHeader;
  listProjects(orgSlug: string): Promise<{
    org: { [x: string]: unknown; slug: string };
    projects: ProjectRecord[];
  }>;
  createProject(input: {
    orgSlug: string;
    name: string;
    slug: string;
  }): Promise<{ project: ProjectRecord }>;
  createJob(input: {
    orgSlug: string;
    projectSlug: string;
    name: string;
    config: JobConfig;
  }): Promise<{ job: TrainingJob }>;
  getJob(
    jobId: string,
    scope: JobScope,
  ): Promise<{ job: TrainingJob; events?: unknown[] }>;
  cancelJob(jobId: string, scope: JobScope): Promise<void>;
  /** `GET /v1/jobs/:id/events/stream`; resolves the raw SSE `Response`. */
  openEventStream(
    jobId: string,
    scope: JobScope,
    options?: { lastEventId?: string; signal?: AbortSignal },
  ): Promise<Response>;
  listDeployments(
    scope: DeploymentScope,
  ): Promise<{ deployments: DeploymentDto[] }>;
  getDeployment(
    id: string,
    scope: DeploymentScope,
  ): Promise<{ deployment: DeploymentDto }>;
  createDeployment(
    scope: DeploymentScope,
    input: CreateDeploymentInput,
  ): Promise<{ deployment: DeploymentDto }>;
  updateDeployment(
    id: string,
    scope: DeploymentScope,
    input: UpdateDeploymentInput,
  ): Promise<{ deployment: DeploymentDto }>;
  deleteDeployment(id: string, scope: DeploymentScope): Promise<void>;
  listDeploymentKeys(
    id: string,
    scope: DeploymentScope,
  ): Promise<{ keys: DeploymentKeyDto[] }>;
  createDeploymentKey(
    id: string,
    scope: DeploymentScope,
    input: CreateDeploymentKeyInput,
  ): Promise<{ key: CreateDeploymentKeyResult }>;
  revokeDeploymentKey(
    id: string,
    keyId: string,
    scope: DeploymentScope,
  ): Promise<void>;
  /** `POST /v1/inference/chat`; resolves the raw `Response`. */
  chat(input: {
    scope: JobScope;
    body: ChatSettings & {
      adapter?: { kind: "final" | "checkpoint"; jobId: string; step?: number };
      baseModel?: string;
    };
    signal?: AbortSignal;
  }): Promise<Response>;
}

export {};
