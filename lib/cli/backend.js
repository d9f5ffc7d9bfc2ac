"use strict";

// Which backend a CLI command talks to, by the SDK's rule: with
// ARKOR_CLOUD_API_URL set or credentials stored, that backend through the
// normal credential + project flow; otherwise the local one, whose store
// ($ARKOR_HOME, default ~/.arkor/local) the command opens through a backend
// started inside this process, as `createTrainer` does. Jobs that earlier
// `arkor start` runs created in a project dir live there under the org
// "local" and a project named after the directory.

const path = require("node:path");

/** A usage error: its message is all the user needs (no stack). */
function usage(message) {
  const err = new Error(message);
  err.code = "ARKOR_USAGE";
  return err;
}

/** The project slug of a directory, as the SDK derives it (docs/PROTOCOL.md §2). */
function projectSlugFor(dir) {
  const slug = (path.basename(path.resolve(dir)) || "project")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return slug || "project";
}

/**
 * Resolves `{ local, baseUrl, credentials, client, scope, hasProject }`: a
 * `CloudApiClient` and the `{ orgSlug, projectSlug }` of `cwd`'s project.
 * `hasProject` is false when a remote backend has no project state here yet.
 */
async function connect({ cwd = process.cwd() } = {}) {
  const sdk = require("../../index.js");
  const native = require("../native");
  const envUrl = process.env.ARKOR_CLOUD_API_URL;
  const stored = envUrl ? null : await sdk.readCredentials();
  if (!envUrl && !stored) {
    const s = JSON.parse(await native.embeddedSession(path.resolve(cwd)));
    // The embedded backend accepts its token as a bearer token, which is
    // what anonymous credentials carry.
    const credentials = {
      mode: "anon",
      token: s.token,
      anonymousId: "local",
      arkorCloudApiUrl: s.baseUrl,
      orgSlug: s.orgSlug,
    };
    return {
      local: true,
      baseUrl: s.baseUrl,
      credentials,
      client: new sdk.CloudApiClient({ baseUrl: s.baseUrl, credentials }),
      scope: { orgSlug: s.orgSlug, projectSlug: s.projectSlug },
      hasProject: true,
    };
  }
  const credentials = stored || (await sdk.ensureCredentials());
  const baseUrl = envUrl ? envUrl.replace(/\/+$/, "") : sdk.defaultArkorCloudApiUrl(credentials);
  const client = new sdk.CloudApiClient({ baseUrl, credentials });
  const state = await sdk.readState(cwd);
  if (state) {
    return { local: false, baseUrl, credentials, client, scope: { orgSlug: state.orgSlug, projectSlug: state.projectSlug }, hasProject: true };
  }
  const orgSlug = credentials.mode === "anon" ? credentials.orgSlug : undefined;
  return { local: false, baseUrl, credentials, client, scope: { orgSlug, projectSlug: projectSlugFor(cwd) }, hasProject: false };
}

/** Whether a job with this status has ended (the SDK's list of such statuses). */
function isTerminal(status) {
  return require("../native").terminalJobStatuses().includes(status);
}

/** Whether `err` is a backend's 404. */
const isNotFound = (err) => Boolean(err) && err.status === 404;

/** `GET /v1/jobs/:id` as `{ job, events }`, with a plain message on 404. */
async function getJob(backend, jobId) {
  try {
    return await backend.client.getJob(jobId, backend.scope);
  } catch (err) {
    if (isNotFound(err)) throw usage(`job ${jobId} not found${backend.local ? " in the local store" : ` on ${backend.baseUrl}`}`);
    throw err;
  }
}

module.exports = { connect, getJob, projectSlugFor, usage, isNotFound, isTerminal };
