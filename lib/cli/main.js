"use strict";

// Command-line front end. Each command lives in ./commands/<name>.js and
// exports a `run<Name>(options)` function; this file only parses arguments.

const { Command } = require("commander");

const { version } = require("../../package.json");

// Commands that open the local store start a backend inside this process;
// its threads do not hold Node's event loop, but nothing else should keep
// the CLI alive once the command is done either.
function exitSoon() {
  setTimeout(() => process.exit(), 1000).unref();
}

// Repeatable options (`--allow-host a --allow-host b`) collect into a list.
function collect(value, previous) {
  return [...previous, value];
}

function buildProgram() {
  const program = new Command();
  program
    .name("arkor")
    .description("Fine-tune and run models with arkor")
    .version(version);

  program
    .command("init")
    .description("Scaffold a project (src/arkor/{index,trainer}.ts, a dataset, package.json, .gitignore, AGENTS.md) and install it")
    .argument("[dir]", "project directory (default: the current one)")
    .option("--template <template>", "starter template: triage | translate | redaction")
    .option("-y, --yes", "accept defaults instead of prompting (also when CI is set or stdin is not a terminal)")
    .option("--name <name>", "package name (default: the directory's name)")
    .option("--skip-install", "do not run the package manager's install")
    .option("--use-npm", "install with npm")
    .option("--use-pnpm", "install with pnpm")
    .option("--use-yarn", "install with yarn")
    .option("--use-bun", "install with bun")
    .option("--git", "make a git repository with an initial commit, without asking")
    .option("--skip-git", "do not make a git repository")
    .option("--agents-md", "write AGENTS.md and CLAUDE.md for coding agents (default)")
    .option("--no-agents-md", "do not write AGENTS.md / CLAUDE.md")
    .action(async (dir, opts, cmd) => {
      const { runInit } = require("./commands/init.js");
      // commander folds --agents-md / --no-agents-md into one value, last wins; both given is an error.
      const raw = cmd.parent.rawArgs;
      const agentsMd = raw.includes("--agents-md") && raw.includes("--no-agents-md") ? "both" : opts.agentsMd;
      await runInit({
        dir,
        template: opts.template,
        yes: Boolean(opts.yes),
        name: opts.name,
        skipInstall: Boolean(opts.skipInstall),
        use: { npm: opts.useNpm, pnpm: opts.usePnpm, yarn: opts.useYarn, bun: opts.useBun },
        git: Boolean(opts.git),
        skipGit: Boolean(opts.skipGit),
        agentsMd,
      });
    });

  program
    .command("login")
    .description("Sign in to the backend ARKOR_CLOUD_API_URL names (anonymous identities only)")
    .option("--anonymous", "issue an anonymous token and store it in ~/.arkor/credentials.json")
    .option("--oauth", "sign in with OAuth in the browser (not available in this build)")
    .action(async (opts) => {
      const { runLogin } = require("./commands/auth.js");
      await runLogin({ anonymous: Boolean(opts.anonymous), oauth: Boolean(opts.oauth) });
    });

  program
    .command("logout")
    .description("Delete ~/.arkor/credentials.json")
    .option("-f, --force", "delete credentials without prompting")
    .action(async (opts) => {
      const { runLogout } = require("./commands/auth.js");
      await runLogout({ force: Boolean(opts.force) });
    });

  program
    .command("whoami")
    .description("Print the current identity and backend")
    .action(async () => {
      const { runWhoami } = require("./commands/auth.js");
      await runWhoami();
      exitSoon();
    });

  program
    .command("build")
    .description("Bundle src/arkor/index.ts into .arkor/build/index.mjs")
    .argument("[entry]", "source entry to bundle (default: src/arkor/index.ts)")
    .action(async (entry) => {
      const { runBuild } = require("./commands/build.js");
      await runBuild({ entry });
    });

  program
    .command("start")
    .description("Run the trainer in .arkor/build/index.mjs (building it if needed)")
    .argument("[entry]", "rebuild from this source entry before running")
    .action(async (entry) => {
      const { runStart } = require("./commands/start.js");
      try {
        await runStart({ entry });
      } finally {
        // The run is over. Anything still holding the event loop open (an
        // in-process backend, a stray timer in user code) must not keep the
        // CLI alive: exit shortly unless the process ends on its own first.
        exitSoon();
      }
    });

  program
    .command("jobs")
    .description("List this project's training jobs, newest first")
    .option("--json", "print the jobs as JSON")
    .action(async (opts) => {
      const { runJobs } = require("./commands/jobs.js");
      await runJobs({ json: Boolean(opts.json) });
      exitSoon();
    });

  program
    .command("logs")
    .description("Print a job's events; --follow keeps printing until the job ends")
    .argument("<jobId>", "the job")
    .option("-f, --follow", "follow new events until the job ends (Ctrl-C stops following)")
    .action(async (jobId, opts) => {
      const { runLogs } = require("./commands/logs.js");
      await runLogs({ jobId, follow: Boolean(opts.follow) });
      exitSoon();
    });

  program
    .command("cancel")
    .description("Cancel a queued or running job")
    .argument("<jobId>", "the job")
    .action(async (jobId) => {
      const { runCancel } = require("./commands/cancel.js");
      await runCancel({ jobId });
      exitSoon();
    });

  program
    .command("chat")
    .description("Chat with a job's checkpoint, final adapter or base model (default: final, else the newest checkpoint)")
    .argument("<jobId>", "the job")
    .option("--step <n>", "the checkpoint saved at step n")
    .option("--final", "the final adapter of a completed job")
    .option("--base", "the job's base model, without its adapter")
    .option("-p, --prompt <text>", "ask one question, print the answer and exit")
    .option("--system <text>", "a system message for the conversation")
    .option("--max-tokens <n>", "most tokens per answer (default: the backend's)")
    .option("--temperature <t>", "sampling temperature (0 is greedy)")
    .action(async (jobId, opts) => {
      const { runChat } = require("./commands/chat.js");
      await runChat({ jobId, ...opts });
      exitSoon();
    });

  program
    .command("dev")
    .description("Launch Studio, the local web UI, on http://localhost:4000")
    .option("-p, --port <port>", "port to bind (default 4000, else the next free one)")
    .option("--open", "open Studio in a browser once it is up")
    .action(async (opts) => {
      const { runDev } = require("./commands/dev.js");
      await runDev({ port: opts.port, open: Boolean(opts.open) });
    });

  program
    .command("models")
    .description("List local models, install one (pull) or remove one (rm)")
    .argument("[action]", "list | pull | rm", "list")
    .argument("[name]", "model to pull or remove, e.g. google/gemma-3-270m")
    .action(async (action, name) => {
      const { runModels } = require("./commands/models.js");
      await runModels({ action, name });
    });

  program
    .command("endpoints")
    .description("Deployments: serve a job's adapter or a base model as an OpenAI-compatible API")
    .argument("[command]", "list | create <slug> | delete <slug> | keys <slug> [list | create | revoke <keyId>] | runs <slug>", "list")
    .argument("[args...]", "the command's slug, and for keys its action and key id")
    .option("--job <jobId>", "create: serve this job's adapter (its final one unless --step)")
    .option("--step <n>", "create: the checkpoint saved at step n")
    .option("--final", "create: the job's final adapter (the default with --job)")
    .option("--base <model>", "create: serve a base model, e.g. arkor/tiny-gemma3")
    .option("--auth <mode>", "create: none (open URL) or key (API keys; the first one is issued and printed)", "none")
    .option("--label <label>", "the label of a key created now", "default")
    .option("--limit <n>", "runs: how many of the latest calls (default 100)")
    .option("--json", "print the answer as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  arkor endpoints create support-bot --job <jobId> --auth key\n" +
        "  arkor endpoints create tiny --base arkor/tiny-gemma3\n" +
        "  arkor endpoints keys support-bot create\n" +
        "  arkor endpoints keys support-bot revoke <keyId>\n" +
        "Local deployments are served by `arkor serve` at http://<slug>.localhost:<port>/v1.\n",
    )
    .action(async (command, args, opts) => {
      const { runEndpoints } = require("./commands/endpoints.js");
      await runEndpoints({ action: command, args, ...opts });
      exitSoon();
    });

  program
    .command("serve")
    .description("Run the local backend (training and inference) as a server")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", String(require("./commands/serve.js").DEFAULT_PORT))
    .option("--home <dir>", "data directory (default: $ARKOR_HOME or ~/.arkor/local)")
    .option("--allow-host <name>", "also answer requests addressed to this host name (repeatable); others get 403", collect, [])
    .option("--public", "public mode: token-only access, datasets only from --allow-path roots and public URLs (on by itself when --host is not loopback)")
    .option("--token <token>", "public mode: bearer token of the server's org (default: $ARKOR_SERVE_TOKEN, else generated once and kept in $ARKOR_HOME/serve-token)")
    .option("--allow-anonymous", "public mode: keep anonymous sign-up (arkor login --anonymous) open")
    .option("--allow-path <dir>", "public mode: file:// datasets may be read under this directory (repeatable; none by default)", collect, [])
    .option("--allow-private-urls", "public mode: http(s) datasets may reach loopback, private, link-local and cloud-metadata addresses")
    .addHelpText(
      "after",
      "\nOn loopback (the default) the server trusts whoever reaches it past the Host guard.\n" +
        "Public mode trusts only its token; see the README's security section.",
    )
    .action(async (opts) => {
      const { runServe } = require("./commands/serve.js");
      await runServe(opts);
    });

  return program;
}

/** Parse `argv` (without node and script path) and run the command. */
async function main(argv) {
  await buildProgram().parseAsync(argv, { from: "user" });
}

module.exports = { main, buildProgram };
