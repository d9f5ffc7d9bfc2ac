// The Studio server's /api/*, as the SPA calls it. Every call carries the
// per-launch token the server put in <meta name="arkor-studio-token">.

// The wire types are the SDK's own (type-only: nothing of the package is bundled).
import type { DeploymentAuthMode, DeploymentDto, DeploymentKeyDto, DeploymentTarget, JobStatus, ResponseFormat, TrainingJob } from "../../../index";

export type { DeploymentTarget, JobStatus };
export type Job = TrainingJob;
export type AuthMode = DeploymentAuthMode;
export type DeploymentKey = DeploymentKeyDto;

export interface JobEvent {
  id?: number | string;
  type: string;
  timestamp?: string;
  step?: number;
  loss?: number | null;
  evalLoss?: number | null;
  learningRate?: number | null;
  epoch?: number | null;
  samplesPerSecond?: number | null;
  error?: string;
  artifacts?: unknown[];
  [key: string]: unknown;
}

export interface Credentials {
  token: string;
  mode: "anon" | "oauth";
  baseUrl: string;
  orgSlug: string | null;
  projectSlug: string | null;
  local?: boolean;
}

export type ManifestResult = { trainer: { name: string } | null } | { error: string };

export type Adapter = { kind: "final"; jobId: string } | { kind: "checkpoint"; jobId: string; step: number };

/** A deployment, with the OpenAI base URL (`.../v1`) Studio's server adds. */
export type Deployment = DeploymentDto & { url?: string };

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatBody {
  messages: ChatMessage[];
  adapter?: Adapter;
  baseModel?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stream: true;
  responseFormat?: ResponseFormat;
}

const TOKEN = document.querySelector('meta[name="arkor-studio-token"]')?.getAttribute("content") ?? "";

/** A non-2xx answer: `status`, and the server's `error` as the message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

export function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("X-Arkor-Studio-Token", TOKEN);
  if (init.body !== undefined) headers.set("Content-Type", "application/json");
  return fetch(path, { ...init, headers });
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let message = text || `${res.status} ${res.statusText}`;
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string" && body.error) message = body.error;
  } catch {
    // not JSON: the text itself
  }
  return new ApiError(res.status, message);
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await apiFetch(path, init);
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

const send = (method: string, body?: unknown): RequestInit => ({ method, body: body === undefined ? undefined : JSON.stringify(body) });
const seg = encodeURIComponent;

export const fetchCredentials = () => json<Credentials>("/api/credentials");
export const fetchJobs = () => json<{ jobs: Job[] }>("/api/jobs");
export const fetchJob = (id: string) => json<{ job: Job; events?: JobEvent[] }>(`/api/jobs/${seg(id)}`);
export const cancelJob = (id: string) => json<{ job: Job }>(`/api/jobs/${seg(id)}/cancel`, send("POST"));

export async function fetchManifest(): Promise<ManifestResult> {
  const res = await apiFetch("/api/manifest");
  if (res.ok || res.status === 400) return (await res.json()) as ManifestResult;
  throw await failure(res);
}

/** The job's event stream; EventSource cannot send headers, so the token rides in the query. */
export const openJobEvents = (id: string) => new EventSource(`/api/jobs/${seg(id)}/events?studioToken=${seg(TOKEN)}`);

/** Reads a streamed body as text pieces. */
async function* textChunks(res: Response, signal?: AbortSignal): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield decoder.decode(value, { stream: true });
    }
    const tail = decoder.decode();
    if (tail) yield tail;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** POST /api/train: `onText` gets `arkor start`'s output as it comes; resolves the exit code. */
export async function streamTraining(onText: (text: string) => void, signal?: AbortSignal): Promise<number | null> {
  const res = await apiFetch("/api/train", { ...send("POST", {}), signal });
  if (!res.ok) throw await failure(res);
  let all = "";
  for await (const piece of textChunks(res, signal)) {
    all += piece;
    onText(piece);
  }
  const m = /\n---\nexit=(\d+)\n$/.exec(all);
  return m ? Number(m[1]) : null;
}

/** Server-sent event frames of a streamed body: `{ event, data }`. */
export async function* sseFrames(res: Response, signal?: AbortSignal): AsyncGenerator<{ event: string; data: string }> {
  let buf = "";
  for await (const piece of textChunks(res, signal)) {
    buf += piece.replace(/\r\n?/g, "\n");
    let at: number;
    while ((at = buf.indexOf("\n\n")) !== -1) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

/** POST /api/inference/chat, streaming: yields the answer's text pieces. */
export async function* streamChat(body: ChatBody, signal?: AbortSignal): AsyncGenerator<string> {
  const res = await apiFetch("/api/inference/chat", { ...send("POST", body), signal });
  if (!res.ok) throw await failure(res);
  for await (const frame of sseFrames(res, signal)) {
    if (frame.event === "ping") continue;
    if (frame.event === "end" || frame.data === "[DONE]") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(frame.data);
    } catch {
      yield frame.data;
      continue;
    }
    const obj = parsed as { error?: unknown; choices?: { delta?: { content?: unknown } }[] };
    if (typeof obj.error === "string") throw new ApiError(500, obj.error);
    const piece = obj.choices?.[0]?.delta?.content;
    if (typeof piece === "string") yield piece;
  }
}

export const fetchDeployments = () => json<{ deployments: Deployment[]; scopeMissing?: boolean }>("/api/deployments");
export const fetchDeployment = (id: string) => json<{ deployment: Deployment }>(`/api/deployments/${seg(id)}`);
export const createDeployment = (body: { slug: string; target: DeploymentTarget; authMode: AuthMode }) =>
  json<{ deployment: Deployment }>("/api/deployments", send("POST", body));
export const updateDeployment = (id: string, body: { enabled?: boolean; authMode?: AuthMode }) =>
  json<{ deployment: Deployment }>(`/api/deployments/${seg(id)}`, send("PATCH", body));
export const deleteDeployment = (id: string) => json<unknown>(`/api/deployments/${seg(id)}`, send("DELETE"));
export const fetchDeploymentKeys = (id: string) => json<{ keys: DeploymentKey[] }>(`/api/deployments/${seg(id)}/keys`);
export const createDeploymentKey = (id: string, label: string) =>
  json<{ key: DeploymentKey & { plaintext: string } }>(`/api/deployments/${seg(id)}/keys`, send("POST", { label }));
export const revokeDeploymentKey = (id: string, keyId: string) => json<unknown>(`/api/deployments/${seg(id)}/keys/${seg(keyId)}`, send("DELETE"));
