"use strict";

// `arkor jobs [--json]`: the jobs of the current project, newest first.

const { connect, isNotFound } = require("../backend.js");

async function runJobs({ json = false, cwd = process.cwd() } = {}) {
  const backend = await connect({ cwd });
  let jobs = [];
  if (backend.hasProject) {
    try {
      ({ jobs } = await backend.client.listJobs(backend.scope));
    } catch (err) {
      // No project of that name yet: it has no jobs.
      if (!isNotFound(err)) throw err;
    }
  }
  jobs = [...(jobs || [])].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  if (json) {
    process.stdout.write(`${JSON.stringify(jobs, null, 2)}\n`);
    return;
  }
  if (jobs.length === 0) {
    process.stdout.write(`No jobs yet in project ${backend.scope.projectSlug}. Run \`arkor start\` to train one.\n`);
    return;
  }
  const rows = jobs.map((j) => [
    j.id,
    j.status,
    j.name ?? "",
    (j.config && j.config.model) || "",
    typeof j.createdAt === "string" ? j.createdAt.replace("T", " ").slice(0, 19) : "",
  ]);
  const head = ["ID", "STATUS", "NAME", "MODEL", "CREATED"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd();
  process.stdout.write(`${[line(head), ...rows.map(line)].join("\n")}\n`);
}

module.exports = { runJobs };
