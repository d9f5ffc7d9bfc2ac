//! What to tell a user whose SDK the backend refuses (426) or deprecates:
//! the upgrade command for the package manager they use, as upstream
//! detects it.

use serde_json::Value;

/// A package manager the upgrade hint can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    /// npm (also the fallback).
    Npm,
    /// pnpm.
    Pnpm,
    /// Yarn.
    Yarn,
    /// Bun.
    Bun,
}

impl PackageManager {
    /// From `npm_config_user_agent` (set by `npx`, `pnpm exec`, `yarn`,
    /// `bunx`), else from where the running script lives (global bins of
    /// pnpm, bun and yarn sit under telltale folders), else npm.
    pub fn detect_from(user_agent: Option<&str>, script_path: Option<&str>) -> Self {
        let from_agent = user_agent.and_then(Self::from_user_agent);
        let from_path = || {
            let p = script_path?.replace('\\', "/").to_lowercase();
            if p.contains("/.bun/") {
                Some(Self::Bun)
            } else if p.contains("/pnpm/") || p.contains("/.pnpm/") {
                Some(Self::Pnpm)
            } else if p.contains("/.yarn/") || p.contains("/yarn/") {
                Some(Self::Yarn)
            } else {
                None
            }
        };
        from_agent.or_else(from_path).unwrap_or(Self::Npm)
    }

    /// The package manager an `npm_config_user_agent` value names
    /// (`pnpm/9.1.0 npm/? node/v20 ...`), if any.
    pub fn from_user_agent(ua: &str) -> Option<Self> {
        match ua.split('/').next() {
            Some("npm") => Some(Self::Npm),
            Some("pnpm") => Some(Self::Pnpm),
            Some("yarn") => Some(Self::Yarn),
            Some("bun") => Some(Self::Bun),
            _ => None,
        }
    }

    /// Its command name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Pnpm => "pnpm",
            Self::Yarn => "yarn",
            Self::Bun => "bun",
        }
    }

    /// The one running this process.
    pub fn detect() -> Self {
        let ua = std::env::var("npm_config_user_agent").ok();
        // Inside Node, argv[1] is the script that was started.
        let script = std::env::args_os().nth(1).and_then(|a| a.into_string().ok());
        Self::detect_from(ua.as_deref(), script.as_deref())
    }

    /// Its global-install command for the latest arkor.
    pub fn upgrade_command(self) -> &'static str {
        match self {
            Self::Npm => "npm install -g arkor@latest",
            Self::Pnpm => "pnpm add -g arkor@latest",
            Self::Yarn => "yarn global add arkor@latest",
            Self::Bun => "bun add -g arkor@latest",
        }
    }
}

/// The message of a 426 answer: the versions the backend named, when its
/// body says which, and always the command to upgrade with.
pub fn sdk_upgrade_message(body: Option<&Value>, command: &str) -> String {
    let field = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (field("currentVersion"), field("supportedRange")) {
        (Some(current), Some(range)) => format!(
            "Arkor SDK {current} is no longer supported by the cloud API (supported: {range}). Run `{command}`."
        ),
        (Some(current), None) => format!("Arkor SDK {current} is no longer supported by the cloud API. Run `{command}`."),
        _ => format!("Arkor SDK is no longer supported by the cloud API. Run `{command}`."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detection_order() {
        use PackageManager::*;
        assert_eq!(PackageManager::detect_from(Some("pnpm/9.1.0 npm/? node/v22"), Some("/x/.bun/bin/arkor")), Pnpm);
        assert_eq!(PackageManager::detect_from(Some("deno/2"), Some("/home/u/.bun/bin/arkor")), Bun);
        assert_eq!(PackageManager::detect_from(None, Some("C:\\Users\\u\\AppData\\Local\\pnpm\\arkor")), Pnpm);
        assert_eq!(PackageManager::detect_from(None, Some("/usr/lib/node_modules/arkor/bin/arkor.js")), Npm);
        assert_eq!(PackageManager::detect_from(None, None).upgrade_command(), "npm install -g arkor@latest");
        assert_eq!(Yarn.upgrade_command(), "yarn global add arkor@latest");
    }

    #[test]
    fn upgrade_messages() {
        let cmd = "pnpm add -g arkor@latest";
        assert_eq!(
            sdk_upgrade_message(None, cmd),
            "Arkor SDK is no longer supported by the cloud API. Run `pnpm add -g arkor@latest`."
        );
        let rich = json!({"error": "sdk_version_unsupported", "currentVersion": "1.3.5", "supportedRange": "^1.4.0 || >=2.1.0"});
        let m = sdk_upgrade_message(Some(&rich), cmd);
        assert!(m.contains("1.3.5 is no longer supported") && m.contains("^1.4.0 || >=2.1.0") && m.contains(cmd), "{m}");
    }
}
