'use strict';

// The arkor SDK. HTTP, event streams, reconnects, credentials and project
// state run in Rust (lib/native.js loads the platform binary); the modules in
// lib/ give them the JavaScript shapes the upstream SDK has.

const native = require('./lib/native');
const { CloudApiError } = require('./lib/errors');
const { createTrainerWith } = require('./lib/trainer');
const { cloudApiClientWith } = require('./lib/client');
const { credentialsWith } = require('./lib/credentials');
const { createArkor, isArkor } = require('./lib/manifest');
const { runTrainer } = require('./lib/runner');

const SUPPORTED_MODELS = Object.freeze(native.supportedModels());

module.exports = {
  createTrainer: createTrainerWith(native),
  createArkor,
  isArkor,
  runTrainer,
  SUPPORTED_MODELS,
  CloudApiError,
  CloudApiClient: cloudApiClientWith(native),
  ...credentialsWith(native),
};
