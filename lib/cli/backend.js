"use strict";

// Which backend a CLI command talks to: the native core's rule, the one
// `createTrainer` follows (with ARKOR_CLOUD_API_URL set or credentials
// stored, that backend; otherwise the local store through a backend started
// inside this process, org "local", project named after the directory).

const path = require("node:path");

/** A usage error: its message is all the user needs (no stack). */
function usage(message) {
  const err = new Error(message);
  err.code = "ARKOR_USAGE";
  return err;
}

/** The project slug of a directory, as the SDK derives it (docs/PROTOCOL.md §2). */
function projectSlugFor(dir) {
  return require("../native").projectSlugFor(path.resolve(dir));
}

/**
 * `ARKOR_CLOUD_API_URL` as the native core reads it (empty is unset, trailing
 * slashes removed), or a usage error naming the variable when it is set to
 * something that is no http(s) URL. The native core does not check it: it
 * would only fail at the first request, as a bare "fetch failed".
 */
function cloudApiUrl() {
  const url = require("../native").settings().cloudApiUrl;
  if (url == null) return url;
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL at all
  }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol) || !parsed.hostname) {
    throw usage(
      `ARKOR_CLOUD_API_URL=${JSON.stringify(process.env.ARKOR_CLOUD_API_URL ?? url)} is not a valid http(s) URL: ` +
        "set it to a backend's address (such as https://api.arkor.ai), or unset it to use the local backend",
    );
  }
  return url;
}

/**
 * Resolves `{ local, baseUrl, credentials, client, scope, hasProject }`: a
 * `CloudApiClient` and the `{ orgSlug, projectSlug }` of `cwd`'s project,
 * as the native core chooses them (arkor_client::backend). `hasProject` is
 * false when a remote backend has no project state here yet; with
 * `ensureProject` the project is created (and its state written) as a
 * trainer's first `start()` would.
 */
async function connect({ cwd = process.cwd(), ensureProject = false } = {}) {
  const sdk = require("../../index.js");
  const native = require("../native");
  cloudApiUrl();
  const c = await require("../errors.js").translated(() => native.connectBackend(path.resolve(cwd), ensureProject));
  return {
    local: c.local,
    baseUrl: c.baseUrl,
    credentials: c.credentials,
    client: new sdk.CloudApiClient({ baseUrl: c.baseUrl, credentials: c.credentials }),
    scope: { orgSlug: c.orgSlug ?? undefined, projectSlug: c.projectSlug },
    hasProject: c.hasProject,
  };
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

module.exports = { cloudApiUrl, connect, getJob, projectSlugFor, usage, isNotFound, isTerminal };
