// Studio's web app: a hash router over five pages, in one Preact tree.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import { fetchCredentials, type Credentials } from "./api";
import { Overview } from "./pages/Overview";
import { JobsList } from "./pages/JobsList";
import { JobDetail } from "./pages/JobDetail";
import { Playground } from "./pages/Playground";
import { Endpoints, EndpointDetail } from "./pages/Endpoints";
import "./styles.css";

/** The route of a location hash: `["jobs", "<id>"]` for `#/jobs/<id>`. */
export function routeOf(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function Identity() {
  const [creds, setCreds] = useState<Credentials | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetchCredentials().then(setCreds, (e: Error) => setError(e.message));
  }, []);
  if (error) return <span class="identity error" title={error}>backend unavailable</span>;
  if (!creds) return <span class="identity muted">…</span>;
  const mode = creds.local ? "local" : creds.mode === "anon" ? "anonymous" : "oauth";
  const scope = [creds.orgSlug, creds.projectSlug].filter(Boolean).join(" / ");
  const host = creds.local ? "" : ` · ${new URL(creds.baseUrl).host}`;
  return <span class="identity" data-testid="identity">{`${mode} · ${scope}${host}`}</span>;
}

const TABS: [string, string][] = [
  ["", "Overview"],
  ["jobs", "Jobs"],
  ["playground", "Playground"],
  ["endpoints", "Endpoints"],
];

function App() {
  const route = routeOf(useHash());
  const [top, id] = route;
  let page;
  if (top === "jobs" && id) page = <JobDetail id={id} />;
  else if (top === "jobs") page = <JobsList />;
  else if (top === "playground") page = <Playground key={route.join("/")} jobId={id} target={route[2]} />;
  else if (top === "endpoints" && id) page = <EndpointDetail id={id} />;
  else if (top === "endpoints") page = <Endpoints />;
  else page = <Overview />;
  return (
    <div class="shell">
      <header class="header">
        <a class="brand" href="#/">
          <span class="mark" aria-hidden="true">◆</span> Arkor Studio
        </a>
        <nav class="tabs">
          {TABS.map(([path, label]) => (
            <a href={`#/${path}`} class={(top ?? "") === path ? "tab active" : "tab"}>
              {label}
            </a>
          ))}
        </nav>
        <Identity />
      </header>
      <main class="main">{page}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
