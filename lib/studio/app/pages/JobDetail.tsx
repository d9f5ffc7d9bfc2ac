// `#/jobs/:id`: live status, the loss chart, the event log, the saved
// checkpoints and a Cancel button, kept up by the job's event stream.
import { useEffect, useState } from "preact/hooks";

import { cancelJob, fetchJob, openJobEvents, type Job, type JobEvent } from "../api";
import { LossChart, type LossPoint } from "../components/LossChart";
import { Card, ErrorNote, StatusBadge, when } from "../components/ui";

const LOG_LIMIT = 500;
const EVENT_TYPES = ["training.started", "training.log", "checkpoint.saved", "training.completed", "training.failed", "training.cancelled"];
const STATUS_AFTER: Record<string, Job["status"]> = {
  "training.started": "running",
  "training.completed": "completed",
  "training.failed": "failed",
  "training.cancelled": "cancelled",
};
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The event log's line for one event. */
export function describe(ev: JobEvent): string {
  switch (ev.type) {
    case "training.log": {
      let s = `step=${ev.step}`;
      if (isNum(ev.loss)) s += ` loss=${ev.loss.toFixed(4)}`;
      if (isNum(ev.evalLoss)) s += ` evalLoss=${ev.evalLoss.toFixed(4)}`;
      return s;
    }
    case "checkpoint.saved":
      return `step=${ev.step}`;
    case "training.completed": {
      const n = Array.isArray(ev.artifacts) ? ev.artifacts.length : 0;
      return `${n} artifact${n === 1 ? "" : "s"}`;
    }
    case "training.failed":
      return String(ev.error ?? "failed");
    default:
      return JSON.stringify(ev);
  }
}

interface LogLine {
  key: number;
  type: string;
  text: string;
}

export function JobDetail({ id }: { id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [status, setStatus] = useState<Job["status"] | null>(null);
  const [points, setPoints] = useState<LossPoint[]>([]);
  const [log, setLog] = useState<LogLine[]>([]);
  const [checkpoints, setCheckpoints] = useState<number[]>([]);
  const [artifacts, setArtifacts] = useState<number | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [streamBroken, setStreamBroken] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [live, setLive] = useState(true);

  useEffect(() => {
    let stopped = false;
    const refresh = () =>
      fetchJob(id).then(
        ({ job }) => {
          if (stopped) return;
          setJob(job);
          setStatus(job.status);
          if (job.error) setFailure(job.error);
        },
        (e: Error) => !stopped && setError(e.message),
      );
    void refresh();
    const seen = new Set<string>();
    let n = 0;
    const es = openJobEvents(id);
    const onData = (raw: MessageEvent<string>, name: string) => {
      setStreamBroken(false);
      if (raw.lastEventId && seen.has(raw.lastEventId)) return;
      if (raw.lastEventId) seen.add(raw.lastEventId);
      let ev: JobEvent;
      try {
        ev = JSON.parse(raw.data) as JobEvent;
      } catch {
        return;
      }
      const type = typeof ev.type === "string" ? ev.type : name;
      ev.type = type;
      if (STATUS_AFTER[type]) setStatus(STATUS_AFTER[type]);
      if (type === "training.log" && isNum(ev.step) && (isNum(ev.loss) || isNum(ev.evalLoss))) {
        setPoints((p) => [...p, { step: ev.step!, loss: isNum(ev.loss) ? ev.loss : null, evalLoss: isNum(ev.evalLoss) ? ev.evalLoss : null }]);
      }
      if (type === "checkpoint.saved" && isNum(ev.step)) setCheckpoints((c) => (c.includes(ev.step!) ? c : [...c, ev.step!]));
      if (type === "training.completed") setArtifacts(Array.isArray(ev.artifacts) ? ev.artifacts.length : 0);
      if (type === "training.failed") setFailure(String(ev.error ?? "failed"));
      const line = { key: n++, type, text: describe(ev) };
      setLog((l) => (l.length >= LOG_LIMIT ? [...l.slice(l.length - LOG_LIMIT + 1), line] : [...l, line]));
    };
    es.onmessage = (m) => onData(m, "message");
    for (const t of EVENT_TYPES) es.addEventListener(t, (m) => onData(m as MessageEvent<string>, t));
    es.addEventListener("end", () => {
      es.close();
      setLive(false);
      void refresh();
    });
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) setStreamBroken(true);
    };
    return () => {
      stopped = true;
      es.close();
    };
  }, [id]);

  const cancel = async () => {
    setCancelling(true);
    try {
      setStatus((await cancelJob(id)).job.status);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setCancelling(false);
    }
  };
  const active = status === "queued" || status === "running";

  return (
    <div class="page">
      <p class="crumbs">
        <a href="#/jobs">Jobs</a> / <span class="mono">{id}</span>
      </p>
      <div class="title-row">
        <h1>{job?.name ?? id}</h1>
        {status && <StatusBadge status={status} />}
        {live && active && <span class="live-dot" title="following the event stream">live</span>}
        <span class="spacer" />
        {active && (
          <button type="button" class="btn danger" onClick={cancel} disabled={cancelling} data-testid="cancel-job">
            {cancelling ? "Cancelling…" : "Cancel"}
          </button>
        )}
      </div>
      <ErrorNote error={error} />
      {failure && status === "failed" && <p class="banner error" role="alert">{failure}</p>}
      {streamBroken && <p class="banner warn">Event stream interrupted.</p>}
      <div class="grid">
        <div class="col-main">
          <Card title="Loss">
            <LossChart points={points} />
          </Card>
          <Card title="Events">
            <div class="events" data-testid="event-log">
              {log.map((l) => (
                <div class="event" key={l.key}>
                  <span class="event-type">{l.type}</span>
                  <span class="event-text">{l.text}</span>
                </div>
              ))}
            </div>
          </Card>
        </div>
        <aside class="col-side">
          <Card title="Metadata">
            <dl class="meta">
              <dt>Model</dt>
              <dd>{String(job?.config?.model ?? "")}</dd>
              <dt>Created</dt>
              <dd>{when(job?.createdAt)}</dd>
              <dt>Started</dt>
              <dd>{when(job?.startedAt)}</dd>
              <dt>Finished</dt>
              <dd>{when(job?.completedAt)}</dd>
              <dt>Artifacts</dt>
              <dd>{artifacts ?? "–"}</dd>
            </dl>
          </Card>
          <Card title="Checkpoints">
            {checkpoints.length === 0 ? (
              <p class="muted">None saved yet.</p>
            ) : (
              <ul class="checkpoints" data-testid="checkpoints">
                {[...checkpoints].sort((a, b) => a - b).map((s) => (
                  <li>
                    step {s} · <a href={`#/playground/${encodeURIComponent(id)}/${s}`}>chat</a>
                  </li>
                ))}
                {status === "completed" && (
                  <li>
                    final · <a href={`#/playground/${encodeURIComponent(id)}/final`}>chat</a>
                  </li>
                )}
              </ul>
            )}
          </Card>
        </aside>
      </div>
    </div>
  );
}
