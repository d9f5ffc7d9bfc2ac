'use strict';

const { translated } = require('./errors');

const parseOrNull = (json) => (json === null || json === undefined ? null : JSON.parse(json));

/** Credentials and project-state helpers (SPEC §3) over the native core. */
function credentialsWith(native) {
  return {
    credentialsPath: () => native.credentialsPath(),
    readCredentials: () => translated(async () => parseOrNull(await native.readCredentials())),
    writeCredentials: (credentials) => translated(() => native.writeCredentials(JSON.stringify(credentials))),
    defaultArkorCloudApiUrl: (credentials) =>
      native.defaultArkorCloudApiUrl(credentials === null || credentials === undefined ? null : JSON.stringify(credentials)),
    requestAnonymousToken: (baseUrl, kind = 'cli') =>
      translated(async () => JSON.parse(await native.requestAnonymousToken(baseUrl, kind))),
    ensureCredentials: () => translated(async () => JSON.parse(await native.ensureCredentials())),
    statePath: (cwd = process.cwd()) => native.statePath(cwd),
    readState: (cwd = process.cwd()) => translated(async () => parseOrNull(await native.readState(cwd))),
    writeState: (state, cwd = process.cwd()) => translated(() => native.writeState(JSON.stringify(state), cwd)),
  };
}

module.exports = { credentialsWith };
