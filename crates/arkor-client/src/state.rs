//! `.arkor/state.json`: which org and project a working directory trains in.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::http::CloudApiClient;

/// The project a directory is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectState {
    /// Org slug.
    pub org_slug: String,
    /// Project slug.
    pub project_slug: String,
    /// Project id.
    pub project_id: String,
}

/// `<cwd>/.arkor/state.json`.
pub fn state_path(cwd: &Path) -> PathBuf {
    cwd.join(".arkor").join("state.json")
}

/// Reads the state; `None` when missing or not a complete state object.
pub async fn read_state(cwd: &Path) -> Result<Option<ProjectState>> {
    // An unreadable state file is treated like a missing one: the bootstrap
    // then fails loudly when it tries to write it.
    let bytes = read_optional(&state_path(cwd)).await.ok().flatten();
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Writes the state file (creating `.arkor/`).
pub async fn write_state(state: &ProjectState, cwd: &Path) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(state).expect("state serialises");
    json.push(b'\n');
    write_atomic(&state_path(cwd), &json, None).await
}

/// Refusal for a state file that belongs to another anonymous org (upstream's
/// `ANON_STATE_MISMATCH_MESSAGE`, word for word).
pub const ANON_STATE_MISMATCH: &str = "This workspace's .arkor/state.json is scoped to a different organization than your current anonymous session. Delete .arkor/state.json to start a fresh anonymous project, or run `arkor login` with the account that owns that project.";

/// Refusal for OAuth users without a state file (upstream's
/// `OAUTH_MISSING_STATE_MESSAGE`, word for word).
pub const OAUTH_MISSING_STATE: &str = "No .arkor/state.json found. Create it by hand with { orgSlug, projectSlug, projectId } pointing at the project you want to use.";

/// The project slug derived from a directory name: lowercase, anything but
/// `[a-z0-9-]` turned into `-`, outer dashes trimmed, at most 40 characters,
/// `project` when nothing is left.
pub fn project_slug_for(dir: &Path) -> String {
    let base = dir
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|s| !s.is_empty() && *s != "/")
        .unwrap_or("project");
    // One dash per UTF-16 unit, as the upstream SDK's regex replacement does,
    // so both SDKs derive the same slug for the same directory.
    let dashy: String = base
        .to_lowercase()
        .chars()
        .flat_map(|c| {
            let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            std::iter::repeat_n(if keep { c } else { '-' }, if keep { 1 } else { c.len_utf16() })
        })
        .collect();
    let slug: String = dashy.trim_matches('-').chars().take(40).collect();
    if slug.is_empty() {
        "project".to_owned()
    } else {
        slug
    }
}

/// The project state for `cwd`, creating the project (anonymous credentials
/// only) and the state file when missing.
pub async fn ensure_project_state(cwd: &Path, client: &CloudApiClient, credentials: &Credentials) -> Result<ProjectState> {
    let existing = read_state(cwd).await?;
    let anon_org = match credentials {
        Credentials::Anonymous { org_slug, .. } => Some(org_slug.as_str()),
        Credentials::OAuth { .. } => None,
    };
    if let Some(state) = existing {
        return match anon_org {
            Some(org) if org != state.org_slug => Err(Error::ProjectStateMismatch),
            _ => Ok(state),
        };
    }
    let Some(org_slug) = anon_org else { return Err(Error::MissingProjectState) };
    let base_name = cwd.file_name().and_then(|n| n.to_str()).unwrap_or("project").to_owned();
    let slug = project_slug_for(cwd);
    let project = match client.create_project(org_slug, &base_name, &slug).await {
        Ok(p) => p,
        Err(err) if err.status() == Some(409) => {
            let list = client.list_projects(org_slug).await?;
            let found = list["projects"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["slug"].as_str() == Some(slug.as_str())))
                .cloned();
            match found {
                Some(p) => p,
                None => return Err(err),
            }
        }
        Err(err) => return Err(err),
    };
    let field = |k: &str| {
        project[k].as_str().map(str::to_owned).ok_or_else(|| Error::Decode {
            what: "POST /v1/projects".into(),
            detail: format!("project has no string `{k}`"),
        })
    };
    let state = ProjectState { org_slug: org_slug.to_owned(), project_slug: field("slug")?, project_id: field("id")? };
    write_state(&state, cwd).await?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(project_slug_for(Path::new("/home/u/My Cool_Project!")), "my-cool-project");
        assert_eq!(project_slug_for(Path::new("/tmp/---")), "project");
        assert_eq!(project_slug_for(Path::new("/")), "project");
        assert_eq!(project_slug_for(Path::new(&format!("/x/{}", "a".repeat(60)))).len(), 40);
        assert_eq!(project_slug_for(Path::new("/x/日本")), "project");
    }

    #[tokio::test]
    async fn state_round_trip_and_partial_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_state(dir.path()).await.unwrap(), None);
        let s = ProjectState { org_slug: "o".into(), project_slug: "p".into(), project_id: "1".into() };
        write_state(&s, dir.path()).await.unwrap();
        assert_eq!(read_state(dir.path()).await.unwrap(), Some(s));
        std::fs::write(state_path(dir.path()), r#"{"orgSlug":"o"}"#).unwrap();
        assert_eq!(read_state(dir.path()).await.unwrap(), None);
    }
}
