// `#/endpoints` and `#/endpoints/:id`: publish an adapter or a base model as
// an OpenAI-compatible endpoint, switch it on and off, pick its auth mode,
// issue and revoke its API keys, and copy a quick start.
import { useEffect, useState } from "preact/hooks";

import {
  createDeployment,
  createDeploymentKey,
  fetchCredentials,
  fetchDeployment,
  fetchDeploymentKeys,
  fetchDeployments,
  fetchJobs,
  revokeDeploymentKey,
  updateDeployment,
  type AuthMode,
  type Deployment,
  type DeploymentKey,
  type DeploymentTarget,
  type Job,
} from "../api";
import { Card, CopyButton, ErrorNote, when } from "../components/ui";

/** One line for a deployment's target. */
export function targetSummary(t: DeploymentTarget): string {
  if (t.kind === "base_model") return `Base model: ${t.baseModel}`;
  const a = t.adapter;
  return a.kind === "final" ? `Final adapter (job ${a.jobId.slice(0, 8)})` : `Checkpoint step ${a.step} (job ${a.jobId.slice(0, 8)})`;
}

/** The endpoint's OpenAI base URL: the one Studio's server names, else the hosted `<slug>.arkor.app`. */
export function baseUrlOf(d: Deployment): string {
  return typeof d.url === "string" && d.url ? d.url : `https://${d.slug}.arkor.app/v1`;
}

/** The copyable quick starts for one endpoint, by language. */
export function quickStarts(d: Deployment): Record<"curl" | "python" | "javascript", string> {
  const base = baseUrlOf(d);
  const keyed = d.authMode === "fixed_api_key";
  const body = '{"model":"ignored","messages":[{"role":"user","content":"hi"}]}';
  const curl = [`curl ${base}/chat/completions \\`, ...(keyed ? ['  -H "Authorization: Bearer YOUR_API_KEY" \\'] : []), '  -H "Content-Type: application/json" \\', `  -d '${body}'`].join("\n");
  const key = keyed ? "YOUR_API_KEY" : "not-required";
  const python = `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}", api_key="${key}")\nreply = client.chat.completions.create(\n    model="ignored",\n    messages=[{"role": "user", "content": "hi"}],\n)\nprint(reply.choices[0].message.content)`;
  const javascript = `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${base}", apiKey: "${key}" });\nconst reply = await client.chat.completions.create({\n  model: "ignored",\n  messages: [{ role: "user", content: "hi" }],\n});\nconsole.log(reply.choices[0].message.content);`;
  return { curl, python, javascript };
}

function CreateForm({ jobs, onCreated }: { jobs: Job[]; onCreated: () => void }) {
  const [slug, setSlug] = useState("");
  const [kind, setKind] = useState<"final" | "checkpoint" | "base_model">("final");
  const [jobId, setJobId] = useState(jobs[0]?.id ?? "");
  const [step, setStep] = useState("");
  const [baseModel, setBaseModel] = useState(String(jobs[0]?.config?.model ?? ""));
  const [authMode, setAuthMode] = useState<AuthMode>("fixed_api_key");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    let target: DeploymentTarget;
    if (kind === "base_model") target = { kind: "base_model", baseModel: baseModel.trim() };
    else if (kind === "final") target = { kind: "adapter", adapter: { kind: "final", jobId: jobId.trim() } };
    else {
      const n = Number(step);
      if (!Number.isInteger(n) || n < 0) return setError(`Step must be a whole number, got "${step}"`);
      target = { kind: "adapter", adapter: { kind: "checkpoint", jobId: jobId.trim(), step: n } };
    }
    setBusy(true);
    try {
      await createDeployment({ slug: slug.trim(), target, authMode });
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={submit} data-testid="create-endpoint-form">
      <label class="field">
        Slug
        <input class="input" value={slug} placeholder="support-bot" onInput={(e) => setSlug((e.target as HTMLInputElement).value)} data-testid="endpoint-slug" />
      </label>
      <label class="field">
        Target
        <select class="input" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as typeof kind)} data-testid="endpoint-target-kind">
          <option value="final">Final adapter of a job</option>
          <option value="checkpoint">A checkpoint of a job</option>
          <option value="base_model">A base model</option>
        </select>
      </label>
      {kind !== "base_model" && (
        <label class="field">
          Job ID
          <input class="input mono" value={jobId} list="endpoint-jobs" onInput={(e) => setJobId((e.target as HTMLInputElement).value)} data-testid="endpoint-job" />
          <datalist id="endpoint-jobs">
            {jobs.map((j) => (
              <option value={j.id}>{j.name}</option>
            ))}
          </datalist>
        </label>
      )}
      {kind === "checkpoint" && (
        <label class="field">
          Step
          <input class="input" value={step} onInput={(e) => setStep((e.target as HTMLInputElement).value)} data-testid="endpoint-step" />
        </label>
      )}
      {kind === "base_model" && (
        <label class="field">
          Base model
          <input class="input" value={baseModel} onInput={(e) => setBaseModel((e.target as HTMLInputElement).value)} data-testid="endpoint-base-model" />
        </label>
      )}
      <label class="field">
        Auth mode
        <select class="input" value={authMode} onChange={(e) => setAuthMode((e.target as HTMLSelectElement).value as AuthMode)} data-testid="endpoint-auth">
          <option value="fixed_api_key">Fixed API key</option>
          <option value="none">No auth (public)</option>
        </select>
      </label>
      <ErrorNote error={error} />
      <button type="submit" class="btn primary" disabled={busy || !slug.trim()} data-testid="endpoint-create">
        {busy ? "Creating…" : "Create endpoint"}
      </button>
    </form>
  );
}

export function Endpoints() {
  const [list, setList] = useState<Deployment[] | null>(null);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const load = () =>
    fetchDeployments().then(
      (r) => setList(r.deployments),
      (e: Error) => setError(e.message),
    );
  useEffect(() => {
    void load();
    fetchJobs().then((r) => setJobs(r.jobs), () => undefined);
  }, []);
  return (
    <div class="page">
      <h1>Endpoints</h1>
      <ErrorNote error={error} />
      <Card
        title="Endpoints"
        actions={
          <button type="button" class="btn small primary" onClick={() => setCreating(!creating)} data-testid="new-endpoint">
            {creating ? "Close" : "New endpoint"}
          </button>
        }
      >
        {creating && (
          <CreateForm
            jobs={jobs}
            onCreated={() => {
              setCreating(false);
              void load();
            }}
          />
        )}
        {list && list.length === 0 && !creating && (
          <div class="empty">
            <strong>No endpoints yet</strong>
            <p class="muted">Create your first endpoint to serve an adapter over an OpenAI-compatible API.</p>
          </div>
        )}
        {list && list.length > 0 && (
          <table class="table" data-testid="endpoints-table">
            <thead>
              <tr>
                <th>Slug</th>
                <th>Target</th>
                <th>Auth</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr data-endpoint-id={d.id}>
                  <td><a href={`#/endpoints/${encodeURIComponent(d.id)}`}>{d.slug}</a></td>
                  <td>{targetSummary(d.target)}</td>
                  <td class="mono">{d.authMode}</td>
                  <td><span class={d.enabled ? "badge status-completed" : "badge status-cancelled"}>{d.enabled ? "enabled" : "disabled"}</span></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

export function EndpointDetail({ id }: { id: string }) {
  const [d, setD] = useState<Deployment | null>(null);
  const [keys, setKeys] = useState<DeploymentKey[]>([]);
  const [label, setLabel] = useState("");
  const [fresh, setFresh] = useState<string | null>(null);
  const [lang, setLang] = useState<"curl" | "python" | "javascript">("curl");
  const [error, setError] = useState<string | null>(null);
  const [local, setLocal] = useState(false);
  const fail = (e: Error) => setError(e.message);
  useEffect(() => {
    fetchCredentials().then((c) => setLocal(Boolean(c.local)), () => undefined);
  }, []);
  const loadKeys = () => fetchDeploymentKeys(id).then((r) => setKeys(r.keys), fail);
  useEffect(() => {
    fetchDeployment(id).then((r) => setD(r.deployment), fail);
    void loadKeys();
  }, [id]);
  // The controls stay disabled until the server answers, and the badge shows what it
  // saved: a checkbox flips at the click, before the change has taken effect.
  const [saving, setSaving] = useState(false);
  const patch = (body: { enabled?: boolean; authMode?: AuthMode }) => {
    setSaving(true);
    return updateDeployment(id, body)
      .then((r) => setD(r.deployment), fail)
      .finally(() => setSaving(false));
  };
  const issue = async (e: Event) => {
    e.preventDefault();
    try {
      const { key } = await createDeploymentKey(id, label.trim());
      setFresh(key.plaintext);
      setLabel("");
      await loadKeys();
    } catch (err) {
      fail(err as Error);
    }
  };
  const revoke = (keyId: string) => revokeDeploymentKey(id, keyId).then(loadKeys, fail);
  if (!d) return <div class="page"><ErrorNote error={error} /><p class="muted">Loading…</p></div>;
  const url = `${baseUrlOf(d)}/chat/completions`;
  const snippets = quickStarts(d);
  return (
    <div class="page">
      <p class="crumbs">
        <a href="#/endpoints">Endpoints</a> / {d.slug}
      </p>
      <h1>{d.slug}</h1>
      <ErrorNote error={error} />
      <div class="grid">
        <div class="col-main">
          <Card title="Endpoint URL">
            <div class="row">
              <code class="mono" data-testid="endpoint-url">{url}</code>
              <CopyButton text={url} />
            </div>
            <p class="muted">{targetSummary(d.target)}</p>
            {local && (
              <p class="muted" data-testid="local-note">
                Served by this Studio's local backend while <code>arkor dev</code> runs. For a URL that stays, run <code>arkor serve</code> and
                start Studio with <code>ARKOR_CLOUD_API_URL</code> pointing at it.
              </p>
            )}
          </Card>
          <Card
            title="Quick start"
            actions={
              <select class="input small" value={lang} onChange={(e) => setLang((e.target as HTMLSelectElement).value as typeof lang)} data-testid="snippet-lang">
                <option value="curl">cURL</option>
                <option value="python">Python (OpenAI SDK)</option>
                <option value="javascript">JavaScript (OpenAI SDK)</option>
              </select>
            }
          >
            <p class="muted">POST /v1/chat/completions</p>
            <pre class="code" data-testid="snippet">{snippets[lang]}</pre>
            <CopyButton text={snippets[lang]} />
          </Card>
        </div>
        <aside class="col-side">
          <Card title="Settings">
            <label class="check">
              <input type="checkbox" checked={d.enabled} disabled={saving} onChange={(e) => patch({ enabled: (e.target as HTMLInputElement).checked })} data-testid="endpoint-enabled" />
              Enabled
              <span class={d.enabled ? "badge status-completed" : "badge status-cancelled"} data-testid="endpoint-state">
                {d.enabled ? "serving" : "disabled"}
              </span>
            </label>
            <label class="field">
              Auth mode
              <select class="input" value={d.authMode} disabled={saving} onChange={(e) => patch({ authMode: (e.target as HTMLSelectElement).value as AuthMode })} data-testid="endpoint-auth-mode">
                <option value="fixed_api_key">Fixed API key</option>
                <option value="none">No auth (public)</option>
              </select>
            </label>
          </Card>
          <Card title="API keys">
            <form class="row" onSubmit={issue}>
              <input class="input" placeholder="label, e.g. production" maxLength={80} value={label} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} data-testid="key-label" />
              <button type="submit" class="btn small primary" disabled={!label.trim()} data-testid="issue-key">Issue key</button>
            </form>
            {fresh && (
              <div class="callout" data-testid="new-key">
                <p>Save this key now: it is shown once.</p>
                <code class="mono">{fresh}</code> <CopyButton text={fresh} />
              </div>
            )}
            <ul class="keys" data-testid="keys">
              {keys.map((k) => (
                <li class={k.enabled ? "" : "revoked"}>
                  <span>{k.label}</span> <code class="mono">{k.prefix}…</code> <span class="muted">{when(k.createdAt)}</span>
                  {k.enabled && (
                    <button type="button" class="btn small danger" onClick={() => revoke(k.id)}>Revoke</button>
                  )}
                </li>
              ))}
            </ul>
          </Card>
        </aside>
      </div>
    </div>
  );
}
