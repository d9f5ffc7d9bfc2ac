"use strict";

// `npm install`'s step for this package: build the native addon from source
// unless a usable one is already here. "Usable" is a prebuilt
// `arkor-<platform>` package (what a registry install gets, see npm/), or
// an `arkor.<platform>.node` built from the current sources: a project that
// links to a checkout (`"arkor": "file:..."`, what `arkor init` writes when
// run from one) reinstalls without rebuilding the checkout.

const { spawnSync } = require("node:child_process");
const { existsSync, readdirSync, statSync } = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const SOURCES = ["src", "crates", "build.rs", "Cargo.toml", "Cargo.lock"];

/** napi-rs's name for this platform: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
function platformSuffix() {
  const { platform, arch } = process;
  if (platform === "linux") {
    const glibc = process.report && process.report.getReport().header.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? "gnu" : "musl"}`;
  }
  if (platform === "win32") return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The newest modification time under `p`, skipping build output. */
function newest(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let m = 0;
  for (const e of readdirSync(p)) {
    if (e === "target" || e === "node_modules" || e.startsWith(".")) continue;
    m = Math.max(m, newest(path.join(p, e)));
  }
  return m;
}

function usableBinary(suffix) {
  try {
    require.resolve(`arkor-${suffix}`, { paths: [ROOT] });
    return `the prebuilt package arkor-${suffix}`;
  } catch {}
  const local = path.join(ROOT, `arkor.${suffix}.node`);
  if (existsSync(local) && statSync(local).mtimeMs >= Math.max(...SOURCES.map((s) => newest(path.join(ROOT, s))))) {
    return `${path.basename(local)}, built from the current sources`;
  }
  return null;
}

function main() {
  const found = process.env.ARKOR_FORCE_BUILD ? null : usableBinary(platformSuffix());
  if (found) {
    console.log(`arkor: using ${found} (set ARKOR_FORCE_BUILD=1 to rebuild)`);
    return 0;
  }
  const cli = require.resolve("@napi-rs/cli/package.json", { paths: [ROOT] });
  const bin = path.join(path.dirname(cli), require(cli).bin.napi);
  const r = spawnSync(process.execPath, [bin, "build", "--platform", "--js", "native.cjs", "--dts", "native.d.ts"], { cwd: ROOT, stdio: "inherit" });
  return r.status === null ? 1 : r.status;
}

if (require.main === module) process.exitCode = main();

module.exports = { platformSuffix, usableBinary };
