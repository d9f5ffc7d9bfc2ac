// `#/jobs`: every run of the project, polled every 5 s, with search and a status filter.
import { useCallback, useEffect, useState } from "preact/hooks";

import { fetchJobs, type Job } from "../api";
import { Card, ErrorNote, StatusBadge, when } from "../components/ui";

const FILTERS = ["all", "running", "completed", "queued", "failed", "cancelled"] as const;
type Filter = (typeof FILTERS)[number];
const POLL_MS = 5000;

/** The rows a search query and status filter leave. */
export function visibleJobs(jobs: Job[], query: string, filter: Filter): Job[] {
  const q = query.trim().toLowerCase();
  return jobs.filter(
    (j) => (filter === "all" || j.status === filter) && (!q || j.name?.toLowerCase().includes(q) || j.id.toLowerCase().includes(q)),
  );
}

export function JobsList() {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [query, setQuery] = useState("");
  const [filter, setFilter] = useState<Filter>("all");

  const load = useCallback(async () => {
    setLoading(true);
    try {
      setJobs((await fetchJobs()).jobs);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => {
    void load();
    const t = setInterval(load, POLL_MS);
    return () => clearInterval(t);
  }, [load]);

  const rows = jobs ? visibleJobs(jobs, query, filter) : [];
  return (
    <div class="page">
      <h1>Jobs</h1>
      <ErrorNote error={error} />
      <Card
        title="Training runs"
        actions={
          <button type="button" class={loading ? "btn small spinning" : "btn small"} onClick={load} title="Refresh" data-testid="refresh">
            ↻ Refresh
          </button>
        }
      >
        <div class="row filters">
          <input
            class="input"
            type="search"
            placeholder="Search by name or ID"
            value={query}
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            data-testid="job-search"
          />
          <div class="chips" role="radiogroup" aria-label="Status filter">
            {FILTERS.map((f) => (
              <button type="button" role="radio" aria-checked={filter === f} class={filter === f ? "chip active" : "chip"} onClick={() => setFilter(f)} data-testid={`filter-${f}`}>
                {f[0].toUpperCase() + f.slice(1)}
              </button>
            ))}
          </div>
        </div>
        {jobs && jobs.length === 0 ? (
          <div class="empty">
            <strong>No jobs yet</strong>
            <p class="muted">Start one with Run training on the Overview page.</p>
          </div>
        ) : jobs && rows.length === 0 ? (
          <div class="empty">
            <strong>No matches</strong>
            <p class="muted">Relax the filter or clear the search.</p>
          </div>
        ) : (
          <table class="table" data-testid="jobs-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Name</th>
                <th>Model</th>
                <th>Created</th>
                <th>ID</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((j) => (
                <tr data-job-id={j.id}>
                  <td><StatusBadge status={j.status} /></td>
                  <td><a href={`#/jobs/${encodeURIComponent(j.id)}`}>{j.name}</a></td>
                  <td class="muted">{j.config?.model ?? ""}</td>
                  <td class="muted">{when(j.createdAt)}</td>
                  <td class="mono">{j.id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
