//! Loaded base models, shared read-only by training and inference.

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::{Arc, Mutex};

use arkor_engine::{LoraAdapter, Model};
use arkor_models::ModelStore;

/// Why a model or an adapter could not be had.
// The sources are boxed: the engine's and the store's errors are large, and every
// cache lookup returns this.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `ARKOR_DEVICE` names a device this build or machine cannot use.
    #[error("loading model {name}: {source}")]
    Device {
        /// The model.
        name: String,
        /// What the engine said of the device.
        #[source]
        source: Box<arkor_engine::Error>,
    },
    /// The model is known but its weights are not installed; the message says how to install them.
    #[error("{0}")]
    NotInstalled(Box<arkor_models::Error>),
    /// The weights are there but did not load.
    #[error("loading model {name}: {source}")]
    Load {
        /// The model.
        name: String,
        /// What went wrong.
        #[source]
        source: Box<arkor_models::Error>,
    },
    /// A saved adapter did not load.
    #[error("loading adapter {}: {source}", dir.display())]
    Adapter {
        /// Its directory.
        dir: PathBuf,
        /// What the engine said.
        #[source]
        source: Box<arkor_engine::Error>,
    },
}

/// Loads each base model once and each adapter directory once.
#[derive(Clone)]
pub struct ModelCache {
    store: ModelStore,
    models: Arc<Mutex<HashMap<String, Arc<Model>>>>,
    adapters: Arc<Mutex<HashMap<PathBuf, Arc<LoraAdapter>>>>,
}

impl ModelCache {
    /// A cache whose installed models live under `home/models`.
    pub fn new(home: PathBuf) -> Self {
        Self { store: ModelStore::new(home), models: Default::default(), adapters: Default::default() }
    }

    /// The model `name`, loading it on first use. Blocking: call from a
    /// worker thread.
    pub fn model(&self, name: &str) -> Result<Arc<Model>, ModelError> {
        if let Some(m) = self.models.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(m.clone());
        }
        // The CPU unless ARKOR_DEVICE (or a CUDA build) says otherwise.
        let device = arkor_engine::device::parse_device(arkor_settings::Settings::global().device.as_deref())
            .map_err(|source| ModelError::Device { name: name.to_owned(), source: Box::new(source) })?;
        let model = self.store.load(name, &device).map_err(|e| match e {
            arkor_models::Error::NotInstalled { .. } => ModelError::NotInstalled(Box::new(e)),
            source => ModelError::Load { name: name.to_owned(), source: Box::new(source) },
        })?;
        let model = Arc::new(model);
        self.models.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), model.clone());
        Ok(model)
    }

    /// The adapter saved in `dir` for `model`. Checkpoint directories never
    /// change once written, so caching by path is safe.
    pub fn adapter(&self, model: &Model, dir: PathBuf) -> Result<Arc<LoraAdapter>, ModelError> {
        if let Some(a) = self.adapters.lock().unwrap_or_else(|p| p.into_inner()).get(&dir) {
            return Ok(a.clone());
        }
        let adapter = match LoraAdapter::load_peft(&dir, model.config(), model.device()) {
            Ok(a) => a,
            Err(source) => return Err(ModelError::Adapter { dir, source: Box::new(source) }),
        };
        let adapter = Arc::new(adapter);
        self.adapters.lock().unwrap_or_else(|p| p.into_inner()).insert(dir, adapter.clone());
        Ok(adapter)
    }
}
