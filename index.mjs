// ESM entry: the same objects as the CommonJS one, so `instanceof` agrees
// whichever way a program imports the package.
import sdk from './index.js';

export const {
  createTrainer,
  createArkor,
  isArkor,
  runTrainer,
  SUPPORTED_MODELS,
  CloudApiError,
  CloudApiClient,
  readCredentials,
  writeCredentials,
  credentialsPath,
  defaultArkorCloudApiUrl,
  requestAnonymousToken,
  ensureCredentials,
  readState,
  writeState,
  statePath,
} = sdk;
export default sdk;
