"use strict";

// `arkor init [dir]`: scaffold a project that `npx arkor start` trains,
// install it, and optionally make it a git repository, with upstream's
// flags (--name, --template, --yes, --skip-install, --use-<pm>, --git /
// --skip-git, --agents-md / --no-agents-md). Files that already exist are
// kept (package.json and .gitignore get only what is missing).

const { existsSync, mkdirSync, readFileSync, writeFileSync, copyFileSync, statSync } = require("node:fs");
const path = require("node:path");

const { usage } = require("../backend.js");
const { isInteractive, ask } = require("../interactive.js");
const setup = require("../project-setup.js");
const T = require("../templates/index.js");

const MANUAL_INSTALL_HINT = "install dependencies (npm i / pnpm install / yarn / bun install)";

/** An npm package name from a directory name. */
function packageName(dir) {
  const n = path
    .basename(String(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-._]+|[-._]+$/g, "");
  return n || "arkor-project";
}

async function chooseTemplate(template, yes) {
  if (template !== undefined) {
    if (!Object.hasOwn(T.TEMPLATES, template)) {
      throw usage(`Unknown template "${template}". Available: ${Object.keys(T.TEMPLATES).join(", ")}`);
    }
    return template;
  }
  if (yes || !isInteractive()) return "triage";
  return ask(({ select }) =>
    select({
      message: "Starter template?",
      default: "triage",
      choices: Object.entries(T.TEMPLATES).map(([value, t]) => ({ value, name: t.label, description: t.hint })),
    }),
  );
}

/** Whether to make a git repository, asked before the install so nobody waits at a prompt after it. */
async function decideGit(root, { git, skipGit, yes }) {
  if (skipGit) return false;
  let nearest = root;
  while (!existsSync(nearest)) nearest = path.dirname(nearest);
  if (setup.isInGitRepo(nearest)) {
    process.stdout.write("Directory is already inside a git repository. Skipping git init.\n");
    return false;
  }
  if (git || yes) return true;
  if (!isInteractive()) return false;
  return ask(({ confirm }) => confirm({ message: "Initialise a git repository and create an initial commit?", default: true }));
}

/**
 * Refuses a target that is, or lies under, something other than a directory
 * (`arkor init /etc/passwd`), before any question or write: mkdir would
 * fail there with a bare EEXIST / ENOTDIR.
 */
function checkTarget(root) {
  let nearest = root;
  while (!existsSync(nearest)) nearest = path.dirname(nearest);
  if (statSync(nearest).isDirectory()) return;
  throw usage(
    nearest === root
      ? `${root} exists and is not a directory; name a new directory, or an existing one, for the project`
      : `${nearest} is not a directory, so ${root} cannot be made under it; name a new directory, or an existing one, for the project`,
  );
}

async function runInit(options = {}) {
  const { dir, template, yes = false, cwd = process.cwd(), skipInstall = false, git = false, skipGit = false } = options;
  if (git && skipGit) throw usage("Pick one of --git / --skip-git, not both.");
  if (options.agentsMd === "both") throw usage("Pick one of --agents-md / --no-agents-md, not both.");
  const agentsMd = options.agentsMd !== false;
  const pm = setup.choosePackageManager(options.use || {});
  const root = path.resolve(cwd, dir || ".");
  checkTarget(root);
  const id = await chooseTemplate(template, yes);
  const name = packageName(options.name || root);
  const dependency = setup.arkorDependency();
  const done = [];
  const write = (rel, text) => {
    const file = path.join(root, rel);
    if (existsSync(file)) {
      done.push(["kept", rel]);
      return;
    }
    mkdirSync(path.dirname(file), { recursive: true });
    if (typeof text === "function") text(file);
    else writeFileSync(file, text);
    done.push(["created", rel]);
  };
  const shouldGit = await decideGit(root, { git, skipGit, yes });

  mkdirSync(root, { recursive: true });
  write("src/arkor/index.ts", T.INDEX_TS);
  write("src/arkor/trainer.ts", T.trainerTs(id));
  write(`data/${id}.jsonl`, (file) => copyFileSync(T.datasetFile(id), file));
  write("README.md", T.readme(name, id));

  const pkgFile = path.join(root, "package.json");
  if (existsSync(pkgFile)) {
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
    } catch (err) {
      throw usage(`${pkgFile} is not valid JSON (${err.message}); fix it or remove it and run arkor init again`);
    }
    const before = JSON.stringify(pkg);
    const scripts = (pkg.scripts = pkg.scripts || {});
    for (const [k, v] of Object.entries(T.SCRIPTS)) scripts[k] ??= v;
    if (!(pkg.dependencies && pkg.dependencies.arkor) && !(pkg.devDependencies && pkg.devDependencies.arkor)) {
      pkg.devDependencies = { ...pkg.devDependencies, arkor: dependency.spec };
      pkg.allowScripts = { ...dependency.allowScripts, ...pkg.allowScripts };
    }
    if (JSON.stringify(pkg) !== before) {
      writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
      done.push(["patched", "package.json"]);
    } else {
      done.push(["ok", "package.json"]);
    }
  } else {
    write("package.json", T.packageJson(name, dependency));
  }

  const ignoreFile = path.join(root, ".gitignore");
  const wanted = ["node_modules/", ".arkor/"];
  if (existsSync(ignoreFile)) {
    const text = readFileSync(ignoreFile, "utf8");
    const have = new Set(text.split(/\r?\n/).map((l) => l.trim().replace(/^\//, "")));
    const missing = wanted.filter((w) => !have.has(w) && !have.has(w.replace(/\/$/, "")));
    if (missing.length) {
      writeFileSync(ignoreFile, `${text}${text.endsWith("\n") || !text ? "" : "\n"}${missing.join("\n")}\n`);
      done.push(["patched", ".gitignore"]);
    } else {
      done.push(["ok", ".gitignore"]);
    }
  } else {
    write(".gitignore", `${wanted.join("\n")}\n`);
  }
  const warnings = [];
  if (agentsMd) {
    for (const [action, rel, warning] of setup.writeAgentsFiles(root)) {
      done.push([action, rel]);
      if (warning) warnings.push(warning);
    }
  }

  const out = process.stdout;
  out.write(`Scaffolded ${T.TEMPLATES[id].label.toLowerCase()} (template ${id}) in ${root}\n`);
  for (const [action, rel] of done) out.write(`  ${action.padEnd(8)}${rel}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);

  let installed = false;
  if (!skipInstall && pm) {
    out.write(`\nInstalling dependencies with ${pm}...\n`);
    const code = await setup.install(pm, root);
    installed = code === 0;
    if (!installed) process.stderr.write(`\`${pm} install\` exited with code ${code}.\nRetry manually: ${pm} install\n`);
  }
  if (shouldGit && !skipInstall && pm && !installed) {
    out.write(`Skipping git init too. \`${pm} install\` failed, so the lockfile didn't land. Fix the install error first, then re-run this command.\n`);
  } else if (shouldGit) {
    if (setup.isInGitRepo(root)) out.write("Directory became a git repository during install. Skipping git init.\n");
    else {
      try {
        const r = setup.gitInitialCommit(root, "Initial commit from `arkor init`");
        out.write("Initialised a git repository with an initial commit.\n");
        if (r.signingFallback) process.stderr.write("Commit signing failed: created an unsigned commit. Re-sign with `git commit --amend -S` once your signing setup is fixed.\n");
      } catch (err) {
        process.stderr.write(`${err.message}\nYou can initialise git manually later.\n`);
      }
    }
  }

  const rel = path.relative(cwd, root);
  out.write("\nNext:\n");
  if (rel) out.write(`  cd ${rel.includes(" ") ? JSON.stringify(rel) : rel}\n`);
  if (!installed) out.write(`  ${pm ? `${pm} install` : MANUAL_INSTALL_HINT}\n`);
  out.write(`  npx arkor models pull ${T.DEFAULT_MODEL}\n  npx arkor start\n`);
  return { root, template: id, files: done, installed };
}

module.exports = { runInit, packageName };
