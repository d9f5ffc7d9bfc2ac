// `#/`: the project's trainer (from the manifest) and Run training, with
// the live output of the `arkor start` it spawns.
import { useEffect, useRef, useState } from "preact/hooks";

import { fetchManifest, type ManifestResult } from "../api";
import { Card, ErrorNote } from "../components/ui";
import { startRun, useRun } from "../run";

export function Overview() {
  const [manifest, setManifest] = useState<ManifestResult | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const { output, running, exit, error: runError } = useRun();
  const logRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    fetchManifest().then(setManifest, (e: Error) => setLoadError(e.message));
  }, []);
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [output]);

  const trainer = manifest && "trainer" in manifest ? manifest.trainer : null;
  const label = !manifest
    ? "Reading the manifest…"
    : "error" in manifest
      ? `Couldn't read manifest: ${manifest.error}`
      : trainer
        ? `Run training: ${trainer.name}`
        : "No trainer in src/arkor/index.ts yet. Add createTrainer(...) and pass it to createArkor.";

  const jobId = /Started job (\S+)/.exec(output)?.[1];

  return (
    <div class="page">
      <h1>Overview</h1>
      <ErrorNote error={loadError} />
      <Card title="Run training" testid="run-training">
        <p class="trainer-label" data-testid="trainer-label">{label}</p>
        <div class="row">
          <button type="button" class="btn primary" data-testid="run-button" disabled={running || !trainer} onClick={() => void startRun()}>
            {running ? "Training…" : trainer ? `Run training: ${trainer.name}` : "Run training"}
          </button>
          {jobId && (
            <a class="link" href={`#/jobs/${encodeURIComponent(jobId)}`} data-testid="run-job-link">
              Open job {jobId}
            </a>
          )}
          {exit !== undefined && <span class={exit === 0 ? "muted" : "error"} data-testid="run-exit">exit {exit ?? "?"}</span>}
        </div>
        <ErrorNote error={runError} />
        {(output || running) && (
          <pre class="log" ref={logRef} data-testid="run-output">
            {output}
          </pre>
        )}
      </Card>
      <Card title="What runs where">
        <p class="muted">
          Run training spawns <code>arkor start</code> in this project, on the build this page made of <code>src/arkor/index.ts</code> when it
          loaded. It goes on while you move between pages; closing the tab stops it. Watch runs under <a href="#/jobs">Jobs</a>, chat with any checkpoint in the{" "}
          <a href="#/playground">Playground</a>, publish one under <a href="#/endpoints">Endpoints</a>.
        </p>
      </Card>
    </div>
  );
}
