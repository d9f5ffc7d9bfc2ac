'use strict';

const { fromNative, translated } = require('./errors');
const { streamingRequest } = require('./response');

const scopeOf = (s) => ({ orgSlug: s.orgSlug, projectSlug: s.projectSlug });

/** `CloudApiClient` with the upstream method set, over the native client. */
function cloudApiClientWith(native) {
  class CloudApiClient {
    #native;

    /**
     * `{ baseUrl, credentials }`; `fetch` and `onDeprecation` are accepted and
     * unused (HTTP runs in Rust). Internal, for tests: `maxRetries`,
     * `retryDelayMs`, `maxRetryDelayMs` tune how control requests (projects,
     * jobs, cancel) are retried.
     */
    constructor(options) {
      const { maxRetries, retryDelayMs, maxRetryDelayMs } = options;
      try {
        this.#native = new native.NativeClient(options.baseUrl, options.credentials, { maxRetries, retryDelayMs, maxRetryDelayMs });
      } catch (err) {
        throw fromNative(err);
      }
    }

    listProjects(orgSlug) {
      return translated(() => this.#native.listProjects(orgSlug));
    }

    createProject({ orgSlug, name, slug }) {
      return translated(async () => ({ project: await this.#native.createProject(orgSlug, name, slug) }));
    }

    createJob({ orgSlug, projectSlug, name, config }) {
      return translated(() => this.#native.createJob({ orgSlug, projectSlug }, name, config));
    }

    listJobs(scope) {
      return translated(() => this.#native.listJobs(scopeOf(scope)));
    }

    getJob(jobId, scope) {
      return translated(() => this.#native.getJob(jobId, scopeOf(scope)));
    }

    async cancelJob(jobId, scope) {
      await translated(() => this.#native.cancelJob(jobId, scopeOf(scope)));
    }

    openEventStream(jobId, scope, options = {}) {
      const { lastEventId, signal } = options;
      return streamingRequest(native, signal, (h) => this.#native.openEventStream(jobId, scopeOf(scope), lastEventId ?? null, h));
    }

    chat({ scope, body, signal }) {
      return streamingRequest(native, signal, (h) => this.#native.chat(scopeOf(scope), body, h));
    }

    // Deployments: the routes live in the native core (arkor_client::deployments).
    listDeployments(scope) {
      return translated(() => this.#native.listDeployments(scopeOf(scope)));
    }

    getDeployment(id, scope) {
      return translated(() => this.#native.getDeployment(id, scopeOf(scope)));
    }

    createDeployment(scope, input) {
      return translated(() => this.#native.createDeployment(scopeOf(scope), input));
    }

    updateDeployment(id, scope, input) {
      return translated(() => this.#native.updateDeployment(id, scopeOf(scope), input));
    }

    async deleteDeployment(id, scope) {
      await translated(() => this.#native.deleteDeployment(id, scopeOf(scope)));
    }

    listDeploymentKeys(id, scope) {
      return translated(() => this.#native.listDeploymentKeys(id, scopeOf(scope)));
    }

    createDeploymentKey(id, scope, input) {
      return translated(() => this.#native.createDeploymentKey(id, scopeOf(scope), input ?? {}));
    }

    /** Not in upstream's client: the calls a deployment answered (arkor's local backend). */
    listDeploymentRuns(id, scope, { limit } = {}) {
      return translated(() => this.#native.listDeploymentRuns(id, scopeOf(scope), limit ?? null));
    }

    async revokeDeploymentKey(id, keyId, scope) {
      await translated(() => this.#native.revokeDeploymentKey(id, keyId, scopeOf(scope)));
    }
  }
  return CloudApiClient;
}

module.exports = { cloudApiClientWith };
