"use strict";

// Studio's `/api/*` routes, with upstream's shapes (packages/arkor/src/studio/server.ts).
// Every backend call goes through the SDK's client; which backend and which
// project scope are the CLI's rule (lib/cli/backend.js): the local store
// under org `local` and the directory's project, unless ARKOR_CLOUD_API_URL
// or stored credentials name a remote backend.

const { connect } = require("../cli/backend.js");
const { HttpError, sendJson, readJson, isPlainObject, pipeResponse } = require("./http.js");
const { readManifestSummary } = require("./manifest.js");
const { startTraining } = require("./train.js");

const native = () => require("../native");

/** The SDK's CloudApiError (a backend's non-2xx answer). */
const isApiError = (err) => Boolean(err) && err.name === "CloudApiError" && typeof err.status === "number";

/**
 * The backend for this request and its scope; with `create`, the project
 * is made to exist first, as a trainer's first start() makes it (the native
 * core's rule: on a remote backend it also writes .arkor/state.json).
 */
const backendFor = (cwd, { create = false } = {}) => connect({ cwd, ensureProject: create });

const tokenOf = (c) => (c.mode === "anon" ? c.token : c.accessToken);

/**
 * The routes, as `[method, pattern, handler(ctx)]`; `ctx` holds `req`, `res`,
 * `params` (the pattern's `:names`), `url` and the server's `cwd`.
 */
function apiRoutes({ cwd, binPath, children }) {
  return [
    ["GET", "/api/credentials", async ({ res }) => {
      const b = await backendFor(cwd);
      const c = b.credentials;
      sendJson(res, 200, {
        token: tokenOf(c),
        mode: c.mode,
        baseUrl: b.baseUrl,
        orgSlug: b.scope.orgSlug ?? null,
        projectSlug: b.hasProject ? b.scope.projectSlug : null,
        // Beyond upstream: the SPA labels the embedded backend as local.
        local: b.local,
      });
    }],
    ["GET", "/api/me", async ({ res }) => {
      const b = await backendFor(cwd);
      const client = new (native().NativeClient)(b.baseUrl, b.credentials);
      const { translated } = require("../errors.js");
      sendJson(res, 200, await translated(() => client.me()));
    }],
    ["GET", "/api/manifest", async ({ res }) => {
      try {
        sendJson(res, 200, await readManifestSummary(cwd));
      } catch (err) {
        // A fresh scaffold or a bundle that throws: the SPA shows the message.
        sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
    }],
    ["GET", "/api/jobs", async ({ res }) => {
      const b = await backendFor(cwd);
      if (!b.hasProject) return sendJson(res, 200, { jobs: [] });
      try {
        sendJson(res, 200, await b.client.listJobs(b.scope));
      } catch (err) {
        // No such project on the backend yet: it has no jobs.
        if (isApiError(err) && err.status === 404) return sendJson(res, 200, { jobs: [] });
        throw err;
      }
    }],
    // Beyond upstream: one job with its stored events (the checkpoint list).
    ["GET", "/api/jobs/:id", async ({ res, params }) => {
      const b = await backendFor(cwd);
      if (!b.hasProject) throw new HttpError(400, "No project state");
      sendJson(res, 200, await b.client.getJob(params.id, b.scope));
    }],
    ["GET", "/api/jobs/:id/events", async ({ req, res, params }) => {
      const b = await backendFor(cwd);
      if (!b.hasProject) throw new HttpError(400, "No project state");
      // An empty Last-Event-ID is the same as none.
      const lastEventId = req.headers["last-event-id"] || undefined;
      const controller = new AbortController();
      const upstream = await b.client.openEventStream(params.id, b.scope, { lastEventId, signal: controller.signal });
      await pipeResponse(upstream, res, { abort: () => controller.abort() });
    }],
    // Beyond upstream: the Cancel button.
    ["POST", "/api/jobs/:id/cancel", async ({ res, params }) => {
      const b = await backendFor(cwd);
      if (!b.hasProject) throw new HttpError(400, "No project state");
      await b.client.cancelJob(params.id, b.scope);
      const { job } = await b.client.getJob(params.id, b.scope);
      sendJson(res, 200, { job });
    }],
    ["POST", "/api/train", async ({ req, res }) => {
      const body = await readJson(req, { empty: {} });
      if (!isPlainObject(body)) throw new HttpError(400, "train body must be a JSON object, e.g. {} or { \"file\": \"src/arkor/index.ts\" }");
      if (body.file !== undefined && typeof body.file !== "string") throw new HttpError(400, "`file` must be a path string inside the project");
      await startTraining({ cwd, binPath, file: body.file || undefined, res, children });
    }],
    ["POST", "/api/inference/chat", async ({ req, res }) => {
      const body = await readJson(req);
      if (!isPlainObject(body)) throw new HttpError(400, "chat body must be a JSON object with `messages`");
      // A remote backend without project state gets one, as upstream's
      // Playground does; the local one answers chats without a project.
      let b = await backendFor(cwd);
      if (!b.hasProject) b = await backendFor(cwd, { create: true });
      const controller = new AbortController();
      const upstream = await b.client.chat({ scope: b.scope, body, signal: controller.signal });
      await pipeResponse(upstream, res, { abort: () => controller.abort() });
    }],
    ...deploymentRoutes(cwd),
  ];
}

/**
 * `/api/deployments*`: the SDK's deployment methods. With no project scope
 * yet, the list is empty (`scopeMissing`) and a create bootstraps one.
 */
function deploymentRoutes(cwd) {
  const scoped = (intent, call) => async (ctx) => {
    const b = await backendFor(cwd, { create: intent === "create" });
    if (!b.hasProject) {
      if (intent === "list") return sendJson(ctx.res, 200, { deployments: [], scopeMissing: true });
      throw new HttpError(400, "No project state: create an endpoint or run a training first");
    }
    let result;
    try {
      result = await call(b.client, b.scope, ctx);
    } catch (err) {
      // No such project on the backend yet: nothing is deployed.
      if (intent === "list" && isApiError(err) && err.status === 404) return sendJson(ctx.res, 200, { deployments: [] });
      throw err;
    }
    sendJson(ctx.res, 200, withUrls(result ?? {}, b.baseUrl));
  };
  const objectBody = async (req, what) => {
    const body = await readJson(req);
    if (!isPlainObject(body)) throw new HttpError(400, `${what} body must be a JSON object`);
    return body;
  };
  return [
    ["GET", "/api/deployments", scoped("list", (c, s) => c.listDeployments(s))],
    ["POST", "/api/deployments", async (ctx) => {
      const body = await objectBody(ctx.req, "Deployment create");
      return scoped("create", (c, s) => c.createDeployment(s, body))(ctx);
    }],
    ["GET", "/api/deployments/:id", scoped("read", (c, s, { params }) => c.getDeployment(params.id, s))],
    ["PATCH", "/api/deployments/:id", async (ctx) => {
      const body = await objectBody(ctx.req, "Deployment update");
      return scoped("mutate", (c, s, { params }) => c.updateDeployment(params.id, s, body))(ctx);
    }],
    ["DELETE", "/api/deployments/:id", scoped("mutate", async (c, s, { params }) => void (await c.deleteDeployment(params.id, s)))],
    ["GET", "/api/deployments/:id/keys", scoped("read", (c, s, { params }) => c.listDeploymentKeys(params.id, s))],
    ["POST", "/api/deployments/:id/keys", async (ctx) => {
      const body = await objectBody(ctx.req, "Key create");
      return scoped("mutate", (c, s, { params }) => c.createDeploymentKey(params.id, s, body))(ctx);
    }],
    ["DELETE", "/api/deployments/:id/keys/:keyId", scoped("mutate", async (c, s, { params }) => void (await c.revokeDeploymentKey(params.id, params.keyId, s)))],
  ];
}

/**
 * Beyond upstream: each deployment with `url`, the OpenAI base URL it is
 * served at by the backend Studio talks to (for the local one, while
 * `arkor dev` runs), by `arkor endpoints`' rule; the SPA's quick starts use it.
 */
function withUrls(result, backendUrl) {
  const { urlsFor } = require("../cli/commands/endpoints.js");
  const add = (d) => (d && typeof d.slug === "string" ? { ...d, url: urlsFor({ local: false, baseUrl: backendUrl }, d.slug).path } : d);
  if (Array.isArray(result.deployments)) return { ...result, deployments: result.deployments.map(add) };
  if (result.deployment) return { ...result, deployment: add(result.deployment) };
  return result;
}

/** Compiles `/api/jobs/:id` into a matcher that yields `{ id }`. */
function compile(pattern) {
  const names = [];
  const re = new RegExp(
    `^${pattern.replace(/:([A-Za-z]+)/g, (_, n) => {
      names.push(n);
      return "([^/]+)";
    })}$`,
  );
  return (path) => {
    const m = re.exec(path);
    if (!m) return null;
    const params = {};
    names.forEach((n, i) => {
      try {
        params[n] = decodeURIComponent(m[i + 1]);
      } catch {
        // A client's malformed escape (`%zz`), not a server fault.
        throw new HttpError(400, `:${n} in ${path} is not valid percent-encoding (${m[i + 1]}); encode it with encodeURIComponent`);
      }
    });
    return params;
  };
}

/** A dispatcher over `apiRoutes`: resolves false when no route matches. */
function apiHandler(options) {
  const routes = apiRoutes(options).map(([method, pattern, handler]) => ({ method, match: compile(pattern), handler }));
  return async function handle(ctx) {
    let pathMatched = false;
    for (const r of routes) {
      let params;
      try {
        params = r.match(ctx.url.pathname);
      } catch (err) {
        return answerError(ctx.res, err);
      }
      if (!params) continue;
      pathMatched = true;
      if (r.method !== ctx.req.method) continue;
      try {
        await r.handler({ ...ctx, params });
      } catch (err) {
        answerError(ctx.res, err);
      }
      return;
    }
    if (pathMatched) sendJson(ctx.res, 405, { error: `${ctx.req.method} is not allowed on ${ctx.url.pathname}` });
    else sendJson(ctx.res, 404, { error: `no Studio API route ${ctx.url.pathname}` });
  };
}

/** Backend refusals keep their status and message; anything else is logged and opaque. */
function answerError(res, err) {
  if (res.headersSent) return void res.end();
  if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
  if (isApiError(err)) return sendJson(res, err.status, { error: err.message });
  // Setup problems the user fixes (project state for another org, no state
  // for OAuth credentials) carry an upstream error name and their message.
  if (err && /ProjectState|MissingProjectState/.test(String(err.name))) return sendJson(res, 409, { error: err.message });
  console.error("[studio]", err);
  sendJson(res, 500, { error: "Studio backend error" });
}

module.exports = { apiHandler, compile };
