"use strict";

// Command-line front end. Each command lives in ./commands/<name>.js and
// exports a `run<Name>(options)` function; this file only parses arguments.

const { Command } = require("commander");

const { version } = require("../../package.json");

function buildProgram() {
  const program = new Command();
  program
    .name("arkor")
    .description("Fine-tune and run models with arkor")
    .version(version);

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
        setTimeout(() => process.exit(), 1000).unref();
      }
    });

  program
    .command("serve")
    .description("Run the local backend (training and inference) as a server")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", "8787")
    .option("--home <dir>", "data directory (default: $ARKOR_HOME or ~/.arkor/local)")
    .action(async (opts) => {
      const { runServe } = require("./commands/serve.js");
      await runServe(opts);
    });

  program
    .command("models")
    .description("List local models, or install one: arkor models pull google/gemma-3-270m")
    .argument("[action]", "list | pull", "list")
    .argument("[name]", "model to pull")
    .action(async (action, name) => {
      const { runModels } = require("./commands/models.js");
      await runModels({ action, name });
    });

  return program;
}

/** Parse `argv` (without node and script path) and run the command. */
async function main(argv) {
  await buildProgram().parseAsync(argv, { from: "user" });
}

module.exports = { main, buildProgram };
