'use strict';

const { translated } = require('./errors');

/** Credentials and project-state helpers (docs/PROTOCOL.md §7) over the native core. */
function credentialsWith(native) {
  return {
    credentialsPath: () => native.credentialsPath(),
    readCredentials: () => translated(() => native.readCredentials()),
    writeCredentials: (credentials) => translated(() => native.writeCredentials(credentials)),
    defaultArkorCloudApiUrl: (credentials) => native.defaultArkorCloudApiUrl(credentials ?? null),
    requestAnonymousToken: (baseUrl, kind = 'cli') => translated(() => native.requestAnonymousToken(baseUrl, kind)),
    fetchCliConfig: (baseUrl) => translated(() => native.fetchCliConfig(baseUrl)),
    ensureCredentials: () => translated(() => native.ensureCredentials()),
    statePath: (cwd = process.cwd()) => native.statePath(cwd),
    readState: (cwd = process.cwd()) => translated(() => native.readState(cwd)),
    writeState: (state, cwd = process.cwd()) => translated(() => native.writeState(state, cwd)),
  };
}

module.exports = { credentialsWith };
