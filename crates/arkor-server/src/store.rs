//! The durable store: orgs, tokens, projects, jobs and each job's event log,
//! in one SQLite file.
//!
//! Calls are short and synchronous behind a mutex; SQLite in WAL mode makes
//! them microseconds, which is cheaper than shipping each to a thread pool.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

/// What the store can fail with; routes turn it into HTTP (`crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// `create_project` with a slug the org already has.
    #[error("a project with slug \"{slug}\" already exists in org \"{org}\"")]
    ProjectExists {
        /// The slug asked for.
        slug: String,
        /// The org's slug.
        org: String,
    },
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;


/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Id.
    pub id: String,
    /// Slug, unique.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A job row.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Owning org.
    pub org_id: String,
    /// Owning project.
    pub project_id: String,
    /// Run name.
    pub name: String,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The job config as sent.
    pub config: Value,
    /// Failure message.
    pub error: Option<String>,
    /// ISO timestamps.
    pub created_at: String,
    /// When training began.
    pub started_at: Option<String>,
    /// When it ended.
    pub completed_at: Option<String>,
}

impl Job {
    /// The wire shape (`TrainingJob`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "orgId": self.org_id, "projectId": self.project_id, "name": self.name,
            "status": self.status, "config": self.config, "error": self.error,
            "createdAt": self.created_at, "startedAt": self.started_at, "completedAt": self.completed_at,
        })
    }

    /// Whether the job can no longer change.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }
}

/// `completed`, `failed` or `cancelled` (the statuses both ends agree on).
pub use arkor_protocol::job::is_terminal as is_terminal_status;

/// A status change recorded together with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// `running`, `startedAt` now.
    Started,
    /// `completed`.
    Completed,
    /// `failed` with a message.
    Failed(String),
    /// `cancelled`.
    Cancelled,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// The current time as an ISO-8601 UTC string with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A random id with a readable prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}{:08x}", rand::random::<u64>(), rand::random::<u32>())
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS orgs (
  id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  token TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id),
  anonymous_id TEXT, kind TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), slug TEXT NOT NULL,
  name TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (org_id, slug));
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES orgs(id), project_id TEXT NOT NULL REFERENCES projects(id),
  name TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL, error TEXT,
  created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs(id), data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, id);
";

/// Columns and tables added after the first schema, each applied when its
/// `(table, column)` is missing (a missing table has no columns).
const MIGRATIONS: &[(&str, &str, &str)] = &[
    ("jobs", "owner", "ALTER TABLE jobs ADD COLUMN owner TEXT"),
    ("jobs", "idempotency_key", "ALTER TABLE jobs ADD COLUMN idempotency_key TEXT"),
    ("deployments", "id", crate::deployments::store::CREATE_DEPLOYMENTS),
    ("deployment_keys", "id", crate::deployments::store::CREATE_KEYS),
    ("deployment_runs", "id", crate::deployments::store::CREATE_RUNS),
];

/// Indexes over migrated columns, created once those exist. One job per
/// `Idempotency-Key` within a project, enforced by SQLite itself.
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs (org_id, project_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let config: String = r.get("config")?;
    Ok(Job {
        id: r.get("id")?,
        org_id: r.get("org_id")?,
        project_id: r.get("project_id")?,
        name: r.get("name")?,
        status: r.get("status")?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        error: r.get("error")?,
        created_at: r.get("created_at")?,
        started_at: r.get("started_at")?,
        completed_at: r.get("completed_at")?,
    })
}

const JOB_COLUMNS: &str = "id, org_id, project_id, name, status, config, error, created_at, started_at, completed_at";

fn job_by_key(c: &Connection, org: &Org, project_id: &str, key: &str) -> rusqlite::Result<Option<Job>> {
    c.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE org_id = ?1 AND project_id = ?2 AND idempotency_key = ?3"),
        params![org.id, project_id, key],
        job_from_row,
    )
    .optional()
}

impl Store {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        for (table, column, sql) in MIGRATIONS {
            let has: bool = conn
                .prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?
                .exists([column])?;
            if !has {
                conn.execute_batch(sql)?;
            }
        }
        conn.execute_batch(INDEXES)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        Ok(self.sql(f)?)
    }

    /// Runs `f` on the connection, for the modules that keep their own
    /// tables in this database (deployments) and their own error types.
    pub(crate) fn sql<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// The org with `slug`, created when missing.
    pub fn ensure_org(&self, slug: &str, name: &str) -> StoreResult<Org> {
        self.with(|c| {
            c.execute(
                "INSERT INTO orgs (id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(slug) DO NOTHING",
                params![new_id("org"), slug, name, now()],
            )?;
            c.query_row("SELECT id, slug, name FROM orgs WHERE slug = ?1", [slug], |r| {
                Ok(Org { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)? })
            })
        })
    }

    /// Registers `token` for `org`.
    pub fn add_token(&self, token: &str, org: &Org, anonymous_id: Option<&str>, kind: Option<&str>) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO tokens (token, org_id, anonymous_id, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token, org.id, anonymous_id, kind, now()],
            )
            .map(|_| ())
        })
    }

    /// Registers a server's own `token` for `org`, tagged `kind`; with
    /// `retire_others`, the earlier tokens of that kind stop working.
    pub fn set_token(&self, token: &str, org: &Org, kind: &str, retire_others: bool) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            if retire_others {
                tx.execute("DELETE FROM tokens WHERE kind = ?1 AND token <> ?2", params![kind, token])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO tokens (token, org_id, anonymous_id, kind, created_at) VALUES (?1, ?2, NULL, ?3, ?4)",
                params![token, org.id, kind, now()],
            )?;
            tx.commit()
        })
    }

    /// The tokens whose kind starts with `prefix`, as `(token, kind)`.
    pub fn tokens_of_kind(&self, prefix: &str) -> StoreResult<Vec<(String, String)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT token, kind FROM tokens WHERE substr(kind, 1, length(?1)) = ?1")?;
            let rows = st.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Makes `token` stop working.
    pub fn remove_token(&self, token: &str) -> StoreResult<()> {
        self.with(|c| c.execute("DELETE FROM tokens WHERE token = ?1", [token]).map(|_| ()))
    }

    /// The org a token belongs to.
    pub fn org_for_token(&self, token: &str) -> StoreResult<Option<Org>> {
        self.with(|c| {
            c.query_row(
                "SELECT o.id, o.slug, o.name FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.token = ?1",
                [token],
                |r| Ok(Org { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)? }),
            )
            .optional()
        })
    }

    /// Creates a project; 409 when the slug is taken in the org.
    pub fn create_project(&self, org: &Org, name: &str, slug: &str) -> StoreResult<Value> {
        let id = new_id("proj");
        let created = now();
        let inserted = self.with(|c| {
            c.execute(
                "INSERT INTO projects (id, org_id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![id, org.id, slug, name, created],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::ProjectExists { slug: slug.to_owned(), org: org.slug.clone() });
        }
        Ok(json!({ "id": id, "orgId": org.id, "slug": slug, "name": name, "createdAt": created }))
    }

    /// Projects of an org, oldest first.
    pub fn list_projects(&self, org: &Org) -> StoreResult<Vec<Value>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, slug, name, created_at FROM projects WHERE org_id = ?1 ORDER BY created_at, id")?;
            let rows = st.query_map([&org.id], |r| {
                Ok(json!({ "id": r.get::<_, String>(0)?, "orgId": org.id, "slug": r.get::<_, String>(1)?,
                           "name": r.get::<_, String>(2)?, "createdAt": r.get::<_, String>(3)? }))
            })?;
            rows.collect()
        })
    }

    /// The id of project `slug` in `org`.
    pub fn project_id(&self, org: &Org, slug: &str) -> StoreResult<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT id FROM projects WHERE org_id = ?1 AND slug = ?2", params![org.id, slug], |r| r.get(0)).optional()
        })
    }

    /// Queues a new job, to be run by the server instance `owner`.
    pub fn create_job(&self, org: &Org, project_id: &str, name: &str, config: &Value, owner: &str) -> StoreResult<Job> {
        Ok(self.create_job_once(org, project_id, name, config, owner, None)?.0)
    }

    /// The job created in `project_id` under `Idempotency-Key` `key`.
    pub fn job_by_key(&self, org: &Org, project_id: &str, key: &str) -> StoreResult<Option<Job>> {
        self.with(|c| job_by_key(c, org, project_id, key))
    }

    /// Queues a new job unless one was already created under `key` in this
    /// project; returns that job instead, and whether a job was created.
    pub fn create_job_once(&self, org: &Org, project_id: &str, name: &str, config: &Value, owner: &str, key: Option<&str>) -> StoreResult<(Job, bool)> {
        let job = Job {
            id: new_id("job"),
            org_id: org.id.clone(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            status: "queued".into(),
            config: config.clone(),
            error: None,
            created_at: now(),
            started_at: None,
            completed_at: None,
        };
        self.with(|c| {
            let tx = c.transaction()?;
            if let Some(existing) = key.map(|k| job_by_key(&tx, org, project_id, k)).transpose()?.flatten() {
                return Ok((existing, false));
            }
            tx.execute(
                "INSERT INTO jobs (id, org_id, project_id, name, status, config, created_at, owner, idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![job.id, job.org_id, job.project_id, job.name, job.status, job.config.to_string(), job.created_at, owner, key],
            )?;
            tx.commit()?;
            Ok((job, true))
        })
    }

    /// Jobs of a project, newest first.
    pub fn list_jobs(&self, project_id: &str) -> StoreResult<Vec<Job>> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = ?1 ORDER BY seq DESC"))?;
            let rows = st.query_map([project_id], job_from_row)?;
            rows.collect()
        })
    }

    /// One job by id.
    pub fn job(&self, id: &str) -> StoreResult<Option<Job>> {
        self.with(|c| c.query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"), [id], job_from_row).optional())
    }

    /// The oldest queued job of server instance `owner`.
    pub fn next_queued(&self, owner: &str) -> StoreResult<Option<Job>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'queued' AND owner = ?1 ORDER BY seq LIMIT 1"),
                [owner],
                job_from_row,
            )
            .optional()
        })
    }

    /// `(id, status, owner)` of every job that has not ended.
    pub fn unfinished_jobs(&self) -> StoreResult<Vec<(String, String, Option<String>)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, status, owner FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Appends an event (its `data` object) to a job's log and applies
    /// `transition` in the same transaction, so the log and the job never
    /// disagree. Returns the event id. Refuses to write after a terminal
    /// status, so nothing follows the end of a job.
    pub fn append_event(&self, job_id: &str, data: &Value, transition: Option<Transition>) -> StoreResult<Option<i64>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let status: Option<String> =
                tx.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |r| r.get(0)).optional()?;
            match status {
                Some(s) if !is_terminal_status(&s) => {}
                _ => return Ok(None),
            }
            tx.execute("INSERT INTO events (job_id, data) VALUES (?1, ?2)", params![job_id, data.to_string()])?;
            let id = tx.last_insert_rowid();
            let ts = data.get("timestamp").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(now);
            match transition {
                None => {}
                Some(Transition::Started) => {
                    tx.execute("UPDATE jobs SET status = 'running', started_at = ?2 WHERE id = ?1", params![job_id, ts])?;
                }
                Some(Transition::Completed) => {
                    tx.execute("UPDATE jobs SET status = 'completed', completed_at = ?2 WHERE id = ?1", params![job_id, ts])?;
                }
                Some(Transition::Failed(msg)) => {
                    tx.execute(
                        "UPDATE jobs SET status = 'failed', error = ?3, completed_at = ?2 WHERE id = ?1",
                        params![job_id, ts, msg],
                    )?;
                }
                Some(Transition::Cancelled) => {
                    tx.execute("UPDATE jobs SET status = 'cancelled', completed_at = ?2 WHERE id = ?1", params![job_id, ts])?;
                }
            }
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// Events of a job with id greater than `after`, oldest first, at most `limit`.
    pub fn events_after(&self, job_id: &str, after: i64, limit: usize) -> StoreResult<Vec<(i64, String)>> {
        self.with(|c| {
            let mut st = c.prepare_cached("SELECT id, data FROM events WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")?;
            let rows = st.query_map(params![job_id, after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_ordered_and_nothing_follows_a_terminal_status() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let org = s.ensure_org("o", "O").unwrap();
        assert_eq!(s.ensure_org("o", "O").unwrap(), org);
        let p = s.create_project(&org, "P", "p").unwrap();
        assert!(matches!(s.create_project(&org, "P", "p"), Err(StoreError::ProjectExists { .. })));
        let job = s.create_job(&org, p["id"].as_str().unwrap(), "run", &json!({"model": "m"}), "me").unwrap();
        assert_eq!(s.next_queued("other").unwrap(), None);
        assert_eq!(s.next_queued("me").unwrap().unwrap().id, job.id);
        let (keyed, created) = s.create_job_once(&org, p["id"].as_str().unwrap(), "k", &json!({}), "me", Some("key-1")).unwrap();
        assert!(created);
        let (again, created) = s.create_job_once(&org, p["id"].as_str().unwrap(), "k2", &json!({}), "me", Some("key-1")).unwrap();
        assert!(!created);
        assert_eq!(again, keyed);
        let a = s.append_event(&job.id, &json!({"type": "training.started"}), Some(Transition::Started)).unwrap().unwrap();
        let b = s.append_event(&job.id, &json!({"type": "training.completed"}), Some(Transition::Completed)).unwrap().unwrap();
        assert!(b > a);
        assert_eq!(s.append_event(&job.id, &json!({"type": "training.log"}), None).unwrap(), None);
        assert_eq!(s.job(&job.id).unwrap().unwrap().status, "completed");
        let evs = s.events_after(&job.id, a, 10).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0, b);
    }
}
