"use strict";

// `arkor init [dir] [--template triage|translate|redaction] [--yes]`:
// scaffold a project that `npx arkor start` trains. Files that already
// exist are kept (package.json and .gitignore get only what is missing).

const { existsSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } = require("node:fs");
const path = require("node:path");

const { usage } = require("../backend.js");
const { isInteractive, ask } = require("../interactive.js");
const T = require("../templates/index.js");

/** An npm package name from a directory name. */
function packageName(dir) {
  const n = path
    .basename(dir)
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

async function runInit({ dir, template, yes = false, cwd = process.cwd() } = {}) {
  const root = path.resolve(cwd, dir || ".");
  const id = await chooseTemplate(template, yes);
  const { version } = require("../../../package.json");
  const name = packageName(root);
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
    const deps = (pkg.dependencies = pkg.dependencies || {});
    const scripts = (pkg.scripts = pkg.scripts || {});
    const before = JSON.stringify(pkg);
    if (!deps.arkor && !(pkg.devDependencies && pkg.devDependencies.arkor)) deps.arkor = `^${version}`;
    scripts.build ??= "arkor build";
    scripts.start ??= "arkor start";
    if (JSON.stringify(pkg) !== before) {
      writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
      done.push(["updated", "package.json"]);
    } else {
      done.push(["kept", "package.json"]);
    }
  } else {
    write("package.json", T.packageJson(name, version));
  }

  const ignoreFile = path.join(root, ".gitignore");
  const wanted = ["node_modules/", ".arkor/"];
  if (existsSync(ignoreFile)) {
    const text = readFileSync(ignoreFile, "utf8");
    const have = new Set(text.split(/\r?\n/).map((l) => l.trim().replace(/^\//, "")));
    const missing = wanted.filter((w) => !have.has(w) && !have.has(w.replace(/\/$/, "")));
    if (missing.length) {
      writeFileSync(ignoreFile, `${text}${text.endsWith("\n") || !text ? "" : "\n"}${missing.join("\n")}\n`);
      done.push(["updated", ".gitignore"]);
    } else {
      done.push(["kept", ".gitignore"]);
    }
  } else {
    write(".gitignore", `${wanted.join("\n")}\n`);
  }

  const out = process.stdout;
  out.write(`Scaffolded ${T.TEMPLATES[id].label.toLowerCase()} (template ${id}) in ${root}\n`);
  for (const [action, rel] of done) out.write(`  ${action.padEnd(8)}${rel}\n`);
  const rel = path.relative(cwd, root);
  out.write("\nNext:\n");
  if (rel) out.write(`  cd ${rel.includes(" ") ? JSON.stringify(rel) : rel}\n`);
  out.write(`  npm install\n  npx arkor models pull ${T.DEFAULT_MODEL}\n  npx arkor start\n`);
  return { root, template: id, files: done };
}

module.exports = { runInit, packageName };
