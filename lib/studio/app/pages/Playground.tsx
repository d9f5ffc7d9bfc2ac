// `#/playground[/<jobId>/<step|final>]`: chat with a job's base model, its
// final adapter or any saved checkpoint, or with base and adapter side by
// side on the same prompt. Answers stream in as they are generated.
import { useEffect, useRef, useState } from "preact/hooks";

import { fetchJob, fetchJobs, streamChat, type Adapter, type ChatBody, type ChatMessage, type Job } from "../api";
import { Card, ErrorNote } from "../components/ui";

type Mode = "adapter" | "base" | "compare";
interface Pane {
  messages: ChatMessage[];
  error: string | null;
}
const emptyPane = (): Pane => ({ messages: [], error: null });

const DEFAULT_SCHEMA = JSON.stringify(
  { type: "object", properties: { category: { type: "string" }, priority: { type: "string", enum: ["low", "medium", "high"] } }, required: ["category", "priority"] },
  null,
  2,
);

/** The chat body's sampling and structured-output fields; throws on a schema that is not JSON. */
export function samplingFields(o: { temperature: string; topP: string; maxTokens: string; useSchema: boolean; schema: string }): Partial<ChatBody> {
  const out: Partial<ChatBody> = {};
  const num = (name: string, raw: string, check: (n: number) => boolean) => {
    if (raw.trim() === "") return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || !check(n)) throw new Error(`${name} is out of range: ${raw}`);
    return n;
  };
  out.temperature = num("Temperature", o.temperature, (n) => n >= 0 && n <= 2);
  out.topP = num("Top-p", o.topP, (n) => n > 0 && n <= 1);
  out.maxTokens = num("Max tokens", o.maxTokens, (n) => Number.isInteger(n) && n > 0);
  if (o.useSchema) {
    let schema: unknown;
    try {
      schema = JSON.parse(o.schema);
    } catch (e) {
      throw new Error(`JSON schema is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new Error("JSON schema must be a JSON object, e.g. { \"type\": \"object\" }");
    out.responseFormat = { type: "json_schema", json_schema: { name: "response", schema: schema as Record<string, unknown>, strict: true } };
  }
  for (const k of Object.keys(out) as (keyof ChatBody)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function Transcript({ title, pane, testid }: { title: string; pane: Pane; testid: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.scrollTop = ref.current.scrollHeight;
  }, [pane]);
  return (
    <div class="pane" data-testid={testid}>
      <h3>{title}</h3>
      <div class="messages" ref={ref}>
        {pane.messages.length === 0 && <p class="muted">No messages yet.</p>}
        {pane.messages.map((m) => (
          <div class={`msg ${m.role}`}>
            <span class="role">{m.role}</span>
            <div class="content">{m.content}</div>
          </div>
        ))}
      </div>
      <ErrorNote error={pane.error} />
    </div>
  );
}

export function Playground({ jobId: routeJob, target: routeTarget }: { jobId?: string; target?: string }) {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [jobId, setJobId] = useState(routeJob ?? "");
  const [steps, setSteps] = useState<number[]>([]);
  // Another job's checkpoints go at once, not when its effect runs after the next paint.
  const showJob = (id: string) => {
    setSteps([]);
    setJobId(id);
  };
  const [target, setTarget] = useState(routeTarget ?? "final");
  const [mode, setMode] = useState<Mode>("adapter");
  const [baseModel, setBaseModel] = useState("");
  const [temperature, setTemperature] = useState("0.7");
  const [topP, setTopP] = useState("0.9");
  const [maxTokens, setMaxTokens] = useState("128");
  const [useSchema, setUseSchema] = useState(false);
  const [schema, setSchema] = useState(DEFAULT_SCHEMA);
  const [input, setInput] = useState("");
  const [adapterPane, setAdapterPane] = useState<Pane>(emptyPane);
  const [basePane, setBasePane] = useState<Pane>(emptyPane);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    fetchJobs().then(
      ({ jobs }) => {
        setJobs(jobs);
        if (!routeJob && jobs.length) showJob(jobs[0].id);
      },
      (e: Error) => setError(e.message),
    );
    return () => abort.current?.abort();
  }, []);

  const job = jobs.find((j) => j.id === jobId);
  // The job on screen as of the latest render. Preact runs an effect's cleanup only
  // after the next paint, so a flag cleared there let a previous job's late answer
  // through: its checkpoints showed under the new job, and the new job's own answer
  // then reset the checkpoint the user had just picked from them.
  const shownJob = useRef(jobId);
  shownJob.current = jobId;
  useEffect(() => {
    if (!jobId) return;
    // A job's checkpoints are offered only once its own answer is in, and an answer
    // for a job no longer on screen is dropped.
    fetchJob(jobId).then(
      ({ job, events }) => {
        if (shownJob.current !== jobId) return;
        const saved = (events ?? []).filter((e) => e.type === "checkpoint.saved" && typeof e.step === "number").map((e) => e.step!);
        setSteps([...new Set(saved)].sort((a, b) => a - b));
        setBaseModel(String(job.config?.model ?? ""));
        if (!routeTarget || routeJob !== jobId) setTarget(job.status === "completed" ? "final" : saved.length ? String(saved[saved.length - 1]) : "final");
      },
      (e: Error) => shownJob.current === jobId && setError(e.message),
    );
  }, [jobId]);

  const adapter = (): Adapter => (target === "final" ? { kind: "final", jobId } : { kind: "checkpoint", jobId, step: Number(target) });
  const adapterLabel = target === "final" ? "final adapter" : `checkpoint step ${target}`;

  const ask = async (which: "adapter" | "base", history: ChatMessage[], fields: Partial<ChatBody>, set: (f: (p: Pane) => Pane) => void, signal: AbortSignal) => {
    const body: ChatBody = { messages: history, stream: true, ...fields, ...(which === "base" ? { baseModel } : { adapter: adapter() }) };
    set((p) => ({ messages: [...history, { role: "assistant", content: "" }], error: null }));
    try {
      for await (const piece of streamChat(body, signal)) {
        set((p) => {
          const msgs = p.messages.slice();
          const last = msgs[msgs.length - 1];
          msgs[msgs.length - 1] = { ...last, content: last.content + piece };
          return { ...p, messages: msgs };
        });
      }
    } catch (e) {
      if (!signal.aborted) set((p) => ({ ...p, error: (e as Error).message }));
    }
  };

  const send = async (e: Event) => {
    e.preventDefault();
    const text = input.trim();
    if (!text || busy) return;
    let fields: Partial<ChatBody>;
    try {
      fields = samplingFields({ temperature, topP, maxTokens, useSchema, schema });
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    setError(null);
    setInput("");
    setBusy(true);
    abort.current = new AbortController();
    const signal = abort.current.signal;
    const turn = (p: Pane) => [...p.messages, { role: "user" as const, content: text }];
    const runs: Promise<void>[] = [];
    if (mode !== "base") runs.push(ask("adapter", turn(adapterPane), fields, setAdapterPane, signal));
    if (mode !== "adapter") runs.push(ask("base", turn(basePane), fields, setBasePane, signal));
    await Promise.all(runs);
    setBusy(false);
  };
  const stop = () => abort.current?.abort();
  const clear = () => {
    setAdapterPane(emptyPane());
    setBasePane(emptyPane());
  };

  return (
    <div class="page">
      <h1>Playground</h1>
      <ErrorNote error={error} />
      <div class="grid side-left">
        <aside class="col-side">
          <Card title="Model">
            <div class="radio-row" role="radiogroup">
              {(["adapter", "base", "compare"] as Mode[]).map((m) => (
                <label>
                  <input type="radio" name="mode" checked={mode === m} onChange={() => setMode(m)} data-testid={`mode-${m}`} />
                  {m === "adapter" ? "Adapter" : m === "base" ? "Base model" : "Side by side"}
                </label>
              ))}
            </div>
            <label class="field">
              Job
              <select
                class="input"
                value={jobId}
                onChange={(e) => showJob((e.target as HTMLSelectElement).value)}
                data-testid="job-select"
              >
                {jobs.length === 0 && <option value="">No jobs yet</option>}
                {jobs.map((j) => (
                  <option value={j.id}>
                    {j.name} · {j.status} · {j.id.slice(0, 12)}
                  </option>
                ))}
              </select>
            </label>
            {mode !== "base" && (
              <label class="field">
                Adapter
                <select class="input" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)} data-testid="adapter-select">
                  <option value="final" disabled={job?.status !== "completed"}>
                    Final adapter{job?.status !== "completed" ? " (once completed)" : ""}
                  </option>
                  {steps.map((s) => (
                    <option value={String(s)}>Checkpoint step {s}</option>
                  ))}
                </select>
              </label>
            )}
            {mode !== "adapter" && (
              <label class="field">
                Base model
                <input class="input" value={baseModel} onInput={(e) => setBaseModel((e.target as HTMLInputElement).value)} data-testid="base-model" />
              </label>
            )}
          </Card>
          <Card title="Sampling">
            <label class="field">
              Temperature
              <input class="input" type="number" min="0" max="2" step="0.1" value={temperature} onInput={(e) => setTemperature((e.target as HTMLInputElement).value)} data-testid="temperature" />
            </label>
            <label class="field">
              Top-p
              <input class="input" type="number" min="0.01" max="1" step="0.05" value={topP} onInput={(e) => setTopP((e.target as HTMLInputElement).value)} data-testid="top-p" />
            </label>
            <label class="field">
              Max tokens
              <input class="input" type="number" min="1" step="1" value={maxTokens} onInput={(e) => setMaxTokens((e.target as HTMLInputElement).value)} data-testid="max-tokens" />
            </label>
            <label class="check">
              <input type="checkbox" checked={useSchema} onChange={(e) => setUseSchema((e.target as HTMLInputElement).checked)} data-testid="use-schema" />
              Structured output (JSON schema)
            </label>
            {useSchema && <textarea class="input code" rows={8} value={schema} onInput={(e) => setSchema((e.target as HTMLTextAreaElement).value)} data-testid="schema" />}
          </Card>
        </aside>
        <div class="col-main">
          <Card title="Chat" actions={<button type="button" class="btn small" onClick={clear}>Clear</button>}>
            <div class={mode === "compare" ? "panes two" : "panes"}>
              {mode !== "adapter" && <Transcript title={`Base model ${baseModel}`} pane={basePane} testid="pane-base" />}
              {mode !== "base" && <Transcript title={jobId ? adapterLabel : "adapter"} pane={adapterPane} testid="pane-adapter" />}
            </div>
            <form class="composer" onSubmit={send}>
              <textarea
                class="input"
                rows={2}
                placeholder="Ask something…"
                value={input}
                onInput={(e) => setInput((e.target as HTMLTextAreaElement).value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.shiftKey) void send(e);
                }}
                data-testid="prompt"
              />
              {busy ? (
                <button type="button" class="btn" onClick={stop}>Stop</button>
              ) : (
                <button type="submit" class="btn primary" disabled={!input.trim() || (mode !== "base" && !jobId)} data-testid="send">
                  Send
                </button>
              )}
            </form>
          </Card>
        </div>
      </div>
    </div>
  );
}
