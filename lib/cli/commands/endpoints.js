"use strict";

// `arkor endpoints`: deployments of the current project, through the SDK's
// CloudApiClient (upstream's deployment methods). `list`, `create <slug>`
// (a job's final adapter or checkpoint, or a base model), `delete <slug>`,
// and `keys <slug> [list | create | revoke <keyId>]`. The backend checks
// every field; this only turns flags into the request and prints answers.

const { connect, isNotFound, usage } = require("../backend.js");
const { DEFAULT_PORT } = require("./serve.js");

/** Hosts whose deployments answer under `<slug>.localhost` (the Host guard's loopback names). */
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** The hosted control plane's host, whose deployments live at `https://<slug>.arkor.app`. */
const HOSTED_API = new URL(require("../../native").HOSTED_CLOUD_API_URL).hostname;

/**
 * Where deployment `slug` answers: `{ base, path, needsServe }`. `base` is
 * the OpenAI base URL by Host (for SDKs), `path` the same API by path (for
 * clients that cannot pick a Host, and curl). The embedded backend lives
 * only as long as this command, so its deployments are served by
 * `arkor serve` from the same store.
 */
function urlsFor(backend, slug) {
  const origin = backend.local ? `http://127.0.0.1:${DEFAULT_PORT}` : backend.baseUrl.replace(/\/+$/, "");
  const u = new URL(origin);
  if (u.hostname === HOSTED_API) {
    const base = `https://${slug}.arkor.app/v1`;
    return { base, path: base, needsServe: false };
  }
  const path = `${origin}/deployments/${slug}/v1`;
  const base = LOOPBACK.has(u.hostname) ? `${u.protocol}//${slug}.localhost${u.port ? `:${u.port}` : ""}/v1` : path;
  return { base, path, needsServe: Boolean(backend.local) };
}

/** A ready curl line for a deployment. */
function curlLine(url, key) {
  const auth = key ? `  -H "Authorization: Bearer ${key}" \\\n` : "";
  const body = JSON.stringify({ model: "ignored", messages: [{ role: "user", content: "Hello!" }] });
  return `curl ${url}/chat/completions \\\n${auth}  -H "Content-Type: application/json" \\\n  -d '${body}'`;
}

/** A one-line summary of a `DeploymentTarget`. */
function describeTarget(t) {
  if (!t) return "";
  if (t.kind === "base_model") return `base model ${t.baseModel}`;
  const a = t.adapter || {};
  return a.kind === "checkpoint" ? `job ${a.jobId} checkpoint ${a.step}` : `job ${a.jobId} final adapter`;
}

/** The `target` the flags name: `--job ID [--step N | --final]` or `--base MODEL`. */
function targetFrom({ job, step, final, base }) {
  if (Boolean(job) === Boolean(base)) throw usage("name what to serve: --job <jobId> [--step N | --final], or --base <model>");
  if (base) {
    if (step !== undefined || final) throw usage("--step and --final go with --job, not --base");
    return { kind: "base_model", baseModel: base };
  }
  if (step !== undefined && final) throw usage("pick one of --step or --final");
  if (step === undefined) return { kind: "adapter", adapter: { kind: "final", jobId: job } };
  const n = Number(step);
  if (!Number.isInteger(n) || n < 0) throw usage(`--step must be a whole number, got ${JSON.stringify(step)}`);
  return { kind: "adapter", adapter: { kind: "checkpoint", jobId: job, step: n } };
}

/** `--auth none | key` as an `authMode`. */
function authModeFrom(auth = "none") {
  const modes = { none: "none", key: "fixed_api_key", fixed_api_key: "fixed_api_key" };
  if (!modes[auth]) throw usage(`--auth must be "none" or "key", got ${JSON.stringify(auth)}`);
  return modes[auth];
}

function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd();
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

const out = (s) => process.stdout.write(s);

/** The project's deployments; none while the project does not exist yet. */
async function deploymentsOf(backend) {
  try {
    return (await backend.client.listDeployments(backend.scope)).deployments;
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** The project's deployment with `slug`, else a usage error listing what there is. */
async function bySlug(backend, slug) {
  if (!slug) throw usage("name the deployment: arkor endpoints <command> <slug>");
  const deployments = await deploymentsOf(backend);
  const d = deployments.find((x) => x.slug === slug);
  if (!d) {
    const known = deployments.map((x) => x.slug).join(", ") || "none";
    throw usage(`no deployment "${slug}" in project ${backend.scope.projectSlug} (deployments: ${known})`);
  }
  return d;
}

async function list(backend, { json }) {
  const deployments = await deploymentsOf(backend);
  if (json) return out(`${JSON.stringify(deployments, null, 2)}\n`);
  if (deployments.length === 0) {
    return out(`No deployments yet in project ${backend.scope.projectSlug}. Create one: arkor endpoints create <slug> --job <jobId>\n`);
  }
  const rows = deployments.map((d) => [d.slug, describeTarget(d.target), d.authMode, d.enabled ? "enabled" : "disabled", urlsFor(backend, d.slug).base]);
  out(table(["SLUG", "TARGET", "AUTH", "STATE", "OPENAI BASE URL"], rows));
}

async function create(cwd, slug, opts) {
  if (!slug) throw usage("name the deployment: arkor endpoints create <slug> --job <jobId> | --base <model>");
  const input = { slug, target: targetFrom(opts), authMode: authModeFrom(opts.auth) };
  // The project is made to exist (and its state written) as a first training run would.
  const backend = await connect({ cwd, ensureProject: true });
  const { deployment } = await backend.client.createDeployment(backend.scope, input);
  let key;
  if (deployment.authMode === "fixed_api_key") {
    ({ key } = await backend.client.createDeploymentKey(deployment.id, backend.scope, { label: opts.label || "default" }));
  }
  if (opts.json) return out(`${JSON.stringify({ deployment, key }, null, 2)}\n`);
  const urls = urlsFor(backend, slug);
  out(`Created deployment ${slug} (${deployment.id}): ${describeTarget(deployment.target)}, auth ${deployment.authMode}\n`);
  out(`URL: ${urls.base}/chat/completions\n`);
  if (urls.path !== urls.base) out(`     ${urls.path}/chat/completions\n`);
  if (key) out(`API key "${key.label}" (shown once, store it now): ${key.plaintext}\n`);
  if (urls.needsServe) out(`Served while \`arkor serve\` runs (port ${DEFAULT_PORT}, same ARKOR_HOME).\n`);
  out(`Try it:\n${curlLine(urls.path, key && key.plaintext)}\n`);
}

async function remove(backend, slug) {
  const d = await bySlug(backend, slug);
  await backend.client.deleteDeployment(d.id, backend.scope);
  out(`Deleted deployment ${slug} and its keys\n`);
}

async function keys(backend, slug, action = "list", keyId, opts) {
  const d = await bySlug(backend, slug);
  if (action === "create") {
    const { key } = await backend.client.createDeploymentKey(d.id, backend.scope, { label: opts.label || "default" });
    if (opts.json) return out(`${JSON.stringify(key, null, 2)}\n`);
    out(`Created key ${key.id} "${key.label}" for ${slug} (shown once, store it now):\n${key.plaintext}\n`);
    return;
  }
  if (action === "revoke") {
    if (!keyId) throw usage(`name the key: arkor endpoints keys ${slug} revoke <keyId> (see arkor endpoints keys ${slug})`);
    await backend.client.revokeDeploymentKey(d.id, keyId, backend.scope);
    out(`Revoked key ${keyId}; calls with it are refused from now on\n`);
    return;
  }
  if (action !== "list") throw usage(`keys takes list, create or revoke <keyId>, got ${JSON.stringify(action)}`);
  const { keys: all } = await backend.client.listDeploymentKeys(d.id, backend.scope);
  if (opts.json) return out(`${JSON.stringify(all, null, 2)}\n`);
  if (all.length === 0) return out(`No keys for ${slug}. Create one: arkor endpoints keys ${slug} create\n`);
  const rows = all.map((k) => [k.id, k.label, `${k.prefix}…`, k.enabled ? "enabled" : "revoked", k.createdAt, k.lastUsedAt || "never"]);
  out(table(["ID", "LABEL", "PREFIX", "STATE", "CREATED", "LAST USED"], rows));
}

async function runs(backend, slug, opts) {
  const d = await bySlug(backend, slug);
  const res = await backend.client.listDeploymentRuns(d.id, backend.scope, { limit: opts.limit === undefined ? undefined : Number(opts.limit) });
  if (opts.json) return out(`${JSON.stringify(res.runs, null, 2)}\n`);
  const kept = res.runRetentionMode === "days" ? `kept ${res.runRetentionDays} days` : res.runRetentionMode === "disabled" ? "not recorded" : "kept";
  if (res.runs.length === 0) return out(`No calls recorded for ${slug} (runs ${kept}).\n`);
  const rows = res.runs.map((r) => [r.createdAt, String(r.status), r.finishReason || "-", `${r.promptTokens ?? 0}+${r.completionTokens ?? 0}`, `${r.latencyMs} ms`, r.error || ""]);
  out(table(["TIME", "STATUS", "FINISH", "TOKENS", "LATENCY", "ERROR"], rows));
  out(`(runs ${kept})\n`);
}

/** `arkor endpoints [action] [args...]` with its options. */
async function runEndpoints({ action = "list", args = [], cwd = process.cwd(), ...opts } = {}) {
  if (action === "create") return create(cwd, args[0], opts);
  const backend = await connect({ cwd });
  switch (action) {
    case "list":
      return list(backend, opts);
    case "delete":
      return remove(backend, args[0]);
    case "keys":
      return keys(backend, args[0], args[1], args[2], opts);
    case "runs":
      return runs(backend, args[0], opts);
    default:
      throw usage(`unknown endpoints command ${JSON.stringify(action)}; use list, create, delete, keys or runs`);
  }
}

module.exports = { runEndpoints, urlsFor, targetFrom };
