'use strict';

const { fromNative, translated } = require('./errors');
const { streamingRequest } = require('./response');

const scopeOf = (s) => ({ orgSlug: s.orgSlug, projectSlug: s.projectSlug });
const seg = encodeURIComponent;

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

    #call(method, path, query, body) {
      return translated(() => this.#native.call(method, path, query, body));
    }

    async #void(method, path, query) {
      await this.#call(method, path, query);
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

    listDeployments(scope) {
      return this.#call('GET', '/v1/endpoints', scopeOf(scope));
    }

    getDeployment(id, scope) {
      return this.#call('GET', `/v1/endpoints/${seg(id)}`, scopeOf(scope));
    }

    createDeployment(scope, input) {
      return this.#call('POST', '/v1/endpoints', scopeOf(scope), input);
    }

    updateDeployment(id, scope, input) {
      return this.#call('PATCH', `/v1/endpoints/${seg(id)}`, scopeOf(scope), input);
    }

    deleteDeployment(id, scope) {
      return this.#void('DELETE', `/v1/endpoints/${seg(id)}`, scopeOf(scope));
    }

    listDeploymentKeys(id, scope) {
      return this.#call('GET', `/v1/endpoints/${seg(id)}/keys`, scopeOf(scope));
    }

    createDeploymentKey(id, scope, input) {
      return this.#call('POST', `/v1/endpoints/${seg(id)}/keys`, scopeOf(scope), input);
    }

    revokeDeploymentKey(id, keyId, scope) {
      return this.#void('DELETE', `/v1/endpoints/${seg(id)}/keys/${seg(keyId)}`, scopeOf(scope));
    }
  }
  return CloudApiClient;
}

module.exports = { cloudApiClientWith };
