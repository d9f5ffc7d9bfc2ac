'use strict';

const { translated } = require('./errors');
const { streamingRequest } = require('./response');

const scopeQuery = (s) => [['orgSlug', s.orgSlug], ['projectSlug', s.projectSlug]];
const seg = encodeURIComponent;

/** `CloudApiClient` with the upstream method set, over the native client. */
function cloudApiClientWith(native) {
  class CloudApiClient {
    #native;

    /** `{ baseUrl, credentials }`; `fetch` and `onDeprecation` are accepted and unused (HTTP runs in Rust). */
    constructor(options) {
      this.#native = new native.NativeClient(options.baseUrl, JSON.stringify(options.credentials));
    }

    #call(method, path, query, body) {
      return translated(async () =>
        JSON.parse(await this.#native.call(method, path, JSON.stringify(query), body === undefined ? null : JSON.stringify(body))),
      );
    }

    async #void(method, path, query) {
      await this.#call(method, path, query);
    }

    listProjects(orgSlug) {
      return this.#call('GET', '/v1/projects', [['orgSlug', orgSlug]]);
    }

    createProject({ orgSlug, name, slug }) {
      return this.#call('POST', '/v1/projects', [['orgSlug', orgSlug]], { name, slug });
    }

    createJob({ orgSlug, projectSlug, name, config }) {
      return this.#call('POST', '/v1/jobs', scopeQuery({ orgSlug, projectSlug }), { name, config });
    }

    listJobs(scope) {
      return this.#call('GET', '/v1/jobs', scopeQuery(scope));
    }

    getJob(jobId, scope) {
      return this.#call('GET', `/v1/jobs/${seg(jobId)}`, scopeQuery(scope));
    }

    cancelJob(jobId, scope) {
      return this.#void('POST', `/v1/jobs/${seg(jobId)}/cancel`, scopeQuery(scope));
    }

    openEventStream(jobId, scope, options = {}) {
      const { lastEventId, signal } = options;
      return streamingRequest(native, signal, (h) =>
        this.#native.openEventStream(jobId, JSON.stringify(scope), lastEventId ?? null, h),
      );
    }

    chat({ scope, body, signal }) {
      return streamingRequest(native, signal, (h) => this.#native.chat(JSON.stringify(scope), JSON.stringify(body), h));
    }

    listDeployments(scope) {
      return this.#call('GET', '/v1/endpoints', scopeQuery(scope));
    }

    getDeployment(id, scope) {
      return this.#call('GET', `/v1/endpoints/${seg(id)}`, scopeQuery(scope));
    }

    createDeployment(scope, input) {
      return this.#call('POST', '/v1/endpoints', scopeQuery(scope), input);
    }

    updateDeployment(id, scope, input) {
      return this.#call('PATCH', `/v1/endpoints/${seg(id)}`, scopeQuery(scope), input);
    }

    deleteDeployment(id, scope) {
      return this.#void('DELETE', `/v1/endpoints/${seg(id)}`, scopeQuery(scope));
    }

    listDeploymentKeys(id, scope) {
      return this.#call('GET', `/v1/endpoints/${seg(id)}/keys`, scopeQuery(scope));
    }

    createDeploymentKey(id, scope, input) {
      return this.#call('POST', `/v1/endpoints/${seg(id)}/keys`, scopeQuery(scope), input);
    }

    revokeDeploymentKey(id, keyId, scope) {
      return this.#void('DELETE', `/v1/endpoints/${seg(id)}/keys/${seg(keyId)}`, scopeQuery(scope));
    }
  }
  return CloudApiClient;
}

module.exports = { cloudApiClientWith };
