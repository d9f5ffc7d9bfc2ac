"use strict";

// `arkor whoami`, `arkor login --anonymous`, `arkor logout`.

const { existsSync } = require("node:fs");
const { rm } = require("node:fs/promises");

const { cloudApiUrl, projectSlugFor, usage } = require("../backend.js");
const { isInteractive, ask } = require("../interactive.js");

async function runWhoami({ cwd = process.cwd() } = {}) {
  const sdk = require("../../../index.js");
  const native = require("../../native");
  const credentials = await sdk.readCredentials();
  const settings = native.settings();
  if (!credentials && !settings.cloudApiUrl) {
    const home = settings.localHome;
    process.stdout.write(
      `Not signed in: using the local backend (data in ${home}).\n` +
        `Org: ${native.LOCAL_ORG}, project here: ${projectSlugFor(cwd)}\n` +
        "Run `arkor login --anonymous` with ARKOR_CLOUD_API_URL set to use a remote backend.\n",
    );
    return;
  }
  if (!credentials) {
    process.stdout.write(
      `Not signed in to ${settings.cloudApiUrl}. Run \`arkor login --anonymous\`.\n`,
    );
    return;
  }
  const baseUrl = sdk.defaultArkorCloudApiUrl(credentials);
  const client = new native.NativeClient(baseUrl, credentials, null);
  let me;
  try {
    me = await client.me();
  } catch (err) {
    const e = require("../../errors.js").fromNative(err);
    // Upstream's exit codes: an outdated SDK (426) fails the command; any
    // other answer is reported and the command still succeeds.
    if (e.status === 426) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    if (typeof e.status === "number") {
      process.stdout.write(`Failed to fetch /v1/me (${e.status}). Token may be expired.\n`);
      return;
    }
    throw e;
  }
  process.stdout.write(`Backend: ${baseUrl}\n`);
  process.stdout.write(`${JSON.stringify(me.user, null, 2)}\n`);
  if (Array.isArray(me.orgs) && me.orgs.length > 0) {
    process.stdout.write(`Orgs: ${me.orgs.map((o) => String(o.slug ?? o.id)).join(", ")}\n`);
  }
}

async function runLogin({ anonymous = false, oauth = false } = {}) {
  if (oauth && anonymous) throw usage("Pick one of --oauth / --anonymous, not both.");
  const sdk = require("../../../index.js");
  cloudApiUrl();
  const baseUrl = sdk.defaultArkorCloudApiUrl();
  if (!anonymous) {
    // Like upstream: ask the deployment how it signs CLIs in; `--anonymous` skips the question.
    const cfg = await sdk.fetchCliConfig(baseUrl);
    const oauthAvailable = Boolean(cfg.auth0Domain && cfg.clientId && cfg.audience);
    if (!oauthAvailable) {
      if (oauth) throw usage("OAuth is not configured for this deployment. Re-run without --oauth or pass --anonymous.");
      process.stdout.write("OAuth is not configured. Continuing with an anonymous session.\n");
    } else {
      if (oauth && process.env.CI) throw usage("--oauth needs a browser callback that CI runners can't complete. Use --anonymous in CI.");
      throw usage(`${baseUrl} signs in with OAuth, which this build of arkor does not do yet: run \`arkor login --anonymous\` for an anonymous identity.`);
    }
  }
  const result = await sdk.requestAnonymousToken(baseUrl, "cli");
  const orgSlug = result.orgSlug;
  await sdk.writeCredentials({
    mode: "anon",
    token: result.token,
    anonymousId: result.anonymousId,
    arkorCloudApiUrl: baseUrl,
    orgSlug,
  });
  process.stdout.write(`Anonymous id: ${result.anonymousId}\n`);
  process.stdout.write(
    `This id is how ${baseUrl} recognises this client across sessions. Keep \`${sdk.credentialsPath()}\` to stay signed in as the same anonymous identity.\n`,
  );
  process.stdout.write(`Signed in anonymously (personal org: ${orgSlug}).\n`);
}

const ANONYMOUS_LOGOUT_WARNING =
  "Anonymous credentials cannot be restored after logout. Deleting them permanently loses access to this anonymous identity.";

async function runLogout({ force = false } = {}) {
  const sdk = require("../../../index.js");
  const file = sdk.credentialsPath();
  if (!existsSync(file)) {
    process.stdout.write("No credentials on file.\n");
    return;
  }
  const credentials = await sdk.readCredentials().catch(() => null);
  const anonymous = Boolean(credentials && credentials.mode === "anon");
  if (!force) {
    if (!isInteractive()) {
      process.stdout.write(`Aborted: pass --force to delete ${file} without a prompt.\n`);
      return;
    }
    const ok = await ask(({ confirm }) =>
      confirm({ message: `${anonymous ? `${ANONYMOUS_LOGOUT_WARNING} ` : ""}Delete ${file}?`, default: false }),
    );
    if (!ok) {
      process.stdout.write("Aborted.\n");
      return;
    }
  } else if (anonymous) {
    process.stderr.write(`${ANONYMOUS_LOGOUT_WARNING}\n`);
  }
  await rm(file, { force: true });
  process.stdout.write(`Removed ${file}.\n`);
}

module.exports = { runWhoami, runLogin, runLogout };
