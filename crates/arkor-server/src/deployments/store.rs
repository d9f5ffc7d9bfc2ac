//! Deployments, their keys and their runs in the server's SQLite database
//! (tables created by the migration list of [`crate::store`]).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::error::{DeployError, DeployResult};
use super::model::{AuthMode, Deployment, Key, Retention, Run, StoredRun, Target};
use crate::store::{Org, Store};

/// The deployments table. `slug` is unique server-wide: it is the URL.
pub(crate) const CREATE_DEPLOYMENTS: &str = "
CREATE TABLE deployments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES orgs(id), project_id TEXT NOT NULL REFERENCES projects(id),
  target_kind TEXT NOT NULL, job_id TEXT, step INTEGER, base_model TEXT,
  auth_mode TEXT NOT NULL, enabled INTEGER NOT NULL, retention_mode TEXT NOT NULL, retention_days INTEGER,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
";

/// Keys: only the SHA-256 of each is kept. Deleting a deployment deletes them.
pub(crate) const CREATE_KEYS: &str = "
CREATE TABLE deployment_keys (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  label TEXT NOT NULL, prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL,
  created_at TEXT NOT NULL, last_used_at TEXT);
CREATE INDEX deployment_keys_by_deployment ON deployment_keys (deployment_id, seq);
";

/// Runs, pruned by their deployment's retention. Deleting a deployment deletes them.
pub(crate) const CREATE_RUNS: &str = "
CREATE TABLE deployment_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, status INTEGER NOT NULL, finish_reason TEXT,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
  stream INTEGER NOT NULL, key_id TEXT, error TEXT);
CREATE INDEX deployment_runs_by_time ON deployment_runs (deployment_id, created_at);
";

const COLUMNS: &str = "id, slug, org_id, project_id, target_kind, job_id, step, base_model, auth_mode, enabled, \
                       retention_mode, retention_days, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Deployment> {
    let kind: String = r.get("target_kind")?;
    let target = match kind.as_str() {
        "checkpoint" => Target::Checkpoint { job_id: r.get("job_id")?, step: r.get::<_, i64>("step")? as u64 },
        "final" => Target::Final { job_id: r.get("job_id")? },
        _ => Target::Base(r.get("base_model")?),
    };
    let auth: String = r.get("auth_mode")?;
    let mode: String = r.get("retention_mode")?;
    Ok(Deployment {
        id: r.get("id")?,
        slug: r.get("slug")?,
        org_id: r.get("org_id")?,
        project_id: r.get("project_id")?,
        target,
        // A row we cannot read stays locked rather than open.
        auth: AuthMode::parse(&auth).unwrap_or(AuthMode::FixedApiKey),
        enabled: r.get("enabled")?,
        retention: Retention::from_columns(&mode, r.get("retention_days")?),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// The target as `(kind, job_id, step, base_model)` columns.
fn target_columns(t: &Target) -> (&'static str, Option<&str>, Option<i64>, Option<&str>) {
    match t {
        Target::Final { job_id } => ("final", Some(job_id), None, None),
        Target::Checkpoint { job_id, step } => ("checkpoint", Some(job_id), Some(*step as i64), None),
        Target::Base(m) => ("base_model", None, None, Some(m)),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// The oldest `created_at` a run of `retention` may have at `now` (both
/// ISO strings in [`crate::store::now`]'s format, which sort by time).
fn cutoff(retention: Retention, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let days = retention.days()?;
    let t = now - chrono::Duration::days(i64::from(days));
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Deletes the runs `retention` no longer keeps.
fn prune(c: &Connection, id: &str, retention: Retention, now: chrono::DateTime<chrono::Utc>) -> rusqlite::Result<usize> {
    match retention {
        Retention::Unlimited => Ok(0),
        Retention::Disabled => c.execute("DELETE FROM deployment_runs WHERE deployment_id = ?1", [id]),
        Retention::Days(_) => {
            let before = cutoff(retention, now).expect("days retention has a cutoff");
            c.execute("DELETE FROM deployment_runs WHERE deployment_id = ?1 AND created_at < ?2", params![id, before])
        }
    }
}

/// The deployment queries, next to the server's other ones.
impl Store {
    /// Inserts `d`; [`DeployError::SlugTaken`] when its slug is in use.
    pub(crate) fn insert_deployment(&self, d: &Deployment) -> DeployResult<()> {
        let (kind, job, step, base) = target_columns(&d.target);
        let r = self.sql(|c| {
            c.execute(
                &format!("INSERT INTO deployments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    d.id, d.slug, d.org_id, d.project_id, kind, job, step, base, d.auth.as_str(), d.enabled,
                    d.retention.mode(), d.retention.days(), d.created_at, d.updated_at
                ],
            )
        });
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(DeployError::SlugTaken(d.slug.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Deployments of a project, oldest first.
    pub(crate) fn list_deployments(&self, project_id: &str) -> DeployResult<Vec<Deployment>> {
        Ok(self.sql(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM deployments WHERE project_id = ?1 ORDER BY seq"))?;
            let rows = st.query_map([project_id], from_row)?;
            rows.collect()
        })?)
    }

    /// One deployment by id.
    pub(crate) fn deployment(&self, id: &str) -> DeployResult<Option<Deployment>> {
        Ok(self.sql(|c| c.query_row(&format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"), [id], from_row).optional())?)
    }

    /// One deployment by slug.
    pub(crate) fn deployment_by_slug(&self, slug: &str) -> DeployResult<Option<Deployment>> {
        Ok(self.sql(|c| c.query_row(&format!("SELECT {COLUMNS} FROM deployments WHERE slug = ?1"), [slug], from_row).optional())?)
    }

    /// Writes every mutable field of `d`, and prunes runs its (new) retention drops.
    pub(crate) fn update_deployment(&self, d: &Deployment) -> DeployResult<()> {
        let (kind, job, step, base) = target_columns(&d.target);
        Ok(self.sql(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE deployments SET target_kind = ?2, job_id = ?3, step = ?4, base_model = ?5, auth_mode = ?6, enabled = ?7, \
                 retention_mode = ?8, retention_days = ?9, updated_at = ?10 WHERE id = ?1",
                params![d.id, kind, job, step, base, d.auth.as_str(), d.enabled, d.retention.mode(), d.retention.days(), d.updated_at],
            )?;
            prune(&tx, &d.id, d.retention, chrono::Utc::now())?;
            tx.commit()
        })?)
    }

    /// The org a deployment belongs to.
    pub(crate) fn org_of(&self, d: &Deployment) -> DeployResult<Org> {
        Ok(self.sql(|c| {
            c.query_row("SELECT id, slug, name FROM orgs WHERE id = ?1", [&d.org_id], |r| {
                Ok(Org { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)? })
            })
        })?)
    }

    /// Deletes a deployment with its keys and runs.
    pub(crate) fn delete_deployment(&self, id: &str) -> DeployResult<()> {
        Ok(self.sql(|c| c.execute("DELETE FROM deployments WHERE id = ?1", [id]).map(|_| ()))?)
    }

    /// Adds a key.
    pub(crate) fn insert_key(&self, deployment_id: &str, key: &Key, hash: &str) -> DeployResult<()> {
        Ok(self.sql(|c| {
            c.execute(
                "INSERT INTO deployment_keys (id, deployment_id, label, prefix, hash, enabled, created_at, last_used_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![key.id, deployment_id, key.label, key.prefix, hash, key.enabled, key.created_at, key.last_used_at],
            )
            .map(|_| ())
        })?)
    }

    /// Keys of a deployment, oldest first.
    pub(crate) fn list_keys(&self, deployment_id: &str) -> DeployResult<Vec<Key>> {
        Ok(self.sql(|c| {
            let mut st = c.prepare(
                "SELECT id, label, prefix, enabled, created_at, last_used_at FROM deployment_keys WHERE deployment_id = ?1 ORDER BY seq",
            )?;
            let rows = st.query_map([deployment_id], |r| {
                Ok(Key {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    prefix: r.get(2)?,
                    enabled: r.get(3)?,
                    created_at: r.get(4)?,
                    last_used_at: r.get(5)?,
                })
            })?;
            rows.collect()
        })?)
    }

    /// Disables a key; false when the deployment has no such key.
    pub(crate) fn revoke_key(&self, deployment_id: &str, key_id: &str) -> DeployResult<bool> {
        Ok(self.sql(|c| {
            c.execute("UPDATE deployment_keys SET enabled = 0 WHERE deployment_id = ?1 AND id = ?2", params![deployment_id, key_id])
        })? > 0)
    }

    /// The enabled key of the deployment with this hash, marked used now.
    pub(crate) fn use_key(&self, deployment_id: &str, hash: &str) -> DeployResult<Option<String>> {
        Ok(self.sql(|c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT id FROM deployment_keys WHERE deployment_id = ?1 AND hash = ?2 AND enabled = 1",
                    params![deployment_id, hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = &id {
                c.execute("UPDATE deployment_keys SET last_used_at = ?2 WHERE id = ?1", params![id, crate::store::now()])?;
            }
            Ok(id)
        })?)
    }

    /// Records a run as `retention` says (not at all when disabled), pruning what it no longer keeps.
    pub(crate) fn record_run(&self, deployment_id: &str, retention: Retention, run: &Run) -> DeployResult<()> {
        if retention == Retention::Disabled {
            return Ok(());
        }
        Ok(self.sql(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO deployment_runs (deployment_id, created_at, status, finish_reason, prompt_tokens, completion_tokens, \
                 latency_ms, stream, key_id, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    deployment_id, crate::store::now(), run.status, run.finish_reason, run.prompt_tokens as i64,
                    run.completion_tokens as i64, run.latency_ms as i64, run.stream, run.key_id, run.error
                ],
            )?;
            prune(&tx, deployment_id, retention, chrono::Utc::now())?;
            tx.commit()
        })?)
    }

    /// Runs of a deployment, newest first, at most `limit`, after pruning.
    pub(crate) fn list_runs(&self, d: &Deployment, limit: usize) -> DeployResult<Vec<StoredRun>> {
        Ok(self.sql(|c| {
            prune(c, &d.id, d.retention, chrono::Utc::now())?;
            let mut st = c.prepare(
                "SELECT id, created_at, status, finish_reason, prompt_tokens, completion_tokens, latency_ms, stream, key_id, error \
                 FROM deployment_runs WHERE deployment_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![d.id, limit as i64], |r| {
                Ok(StoredRun {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    run: Run {
                        status: r.get(2)?,
                        finish_reason: r.get(3)?,
                        prompt_tokens: r.get::<_, i64>(4)? as u64,
                        completion_tokens: r.get::<_, i64>(5)? as u64,
                        latency_ms: r.get::<_, i64>(6)? as u64,
                        stream: r.get(7)?,
                        key_id: r.get(8)?,
                        error: r.get(9)?,
                    },
                })
            })?;
            rows.collect()
        })?)
    }

    /// Prunes every deployment's runs by its retention; the number deleted.
    pub(crate) fn prune_all_runs(&self) -> DeployResult<usize> {
        Ok(self.sql(|c| {
            let all: Vec<(String, String, Option<u32>)> = {
                let mut st = c.prepare("SELECT id, retention_mode, retention_days FROM deployments")?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let now = chrono::Utc::now();
            let mut n = 0;
            for (id, mode, days) in all {
                n += prune(c, &id, Retention::from_columns(&mode, days), now)?;
            }
            Ok(n)
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(s: &Store, slug: &str, retention: Retention) -> Deployment {
        let org = s.ensure_org("o", "O").unwrap();
        let project = s.create_project(&org, slug, slug).unwrap();
        let at = crate::store::now();
        let d = Deployment {
            id: crate::store::new_id("dep"),
            slug: slug.into(),
            org_id: org.id,
            project_id: project["id"].as_str().unwrap().into(),
            target: Target::Base("m".into()),
            auth: AuthMode::None,
            enabled: true,
            retention,
            created_at: at.clone(),
            updated_at: at,
        };
        s.insert_deployment(&d).unwrap();
        d
    }

    fn age_all(s: &Store, days: i64) {
        let old = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        s.sql(|c| c.execute("UPDATE deployment_runs SET created_at = ?1", [old])).unwrap();
    }

    #[test]
    fn the_sweep_deletes_expired_runs_without_any_call_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let week = deployment(&s, "week", Retention::Days(7));
        let forever = deployment(&s, "forever", Retention::Unlimited);
        let off = deployment(&s, "off", Retention::Disabled);
        for d in [&week, &forever, &off] {
            s.record_run(&d.id, d.retention, &Run { status: 200, ..Run::default() }).unwrap();
        }
        let count = || s.sql(|c| c.query_row("SELECT count(*) FROM deployment_runs", [], |r| r.get::<_, i64>(0))).unwrap();
        assert_eq!(count(), 2, "disabled records nothing");
        age_all(&s, 6);
        assert_eq!(s.prune_all_runs().unwrap(), 0, "six days old is within a week");
        age_all(&s, 8);
        assert_eq!(s.prune_all_runs().unwrap(), 1);
        assert_eq!(s.list_runs(&forever, 10).unwrap().len(), 1, "unlimited keeps it");
        assert_eq!(s.list_runs(&week, 10).unwrap().len(), 0);
        assert_eq!(count(), 1);
    }

    #[test]
    fn the_cutoff_is_days_before_now_in_the_stored_format() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-10T12:00:00.000Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(cutoff(Retention::Days(7), now).as_deref(), Some("2026-12-03T12:00:00.000Z"));
        assert_eq!(cutoff(Retention::Unlimited, now), None);
    }
}
