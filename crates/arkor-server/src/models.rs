//! Loaded base models, shared read-only by training and inference.

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::{Arc, Mutex};

use arkor_engine::{LoraAdapter, Model};
use arkor_models::ModelStore;

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
    pub fn model(&self, name: &str) -> Result<Arc<Model>, String> {
        if let Some(m) = self.models.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(m.clone());
        }
        // The CPU unless ARKOR_DEVICE (or a CUDA build) says otherwise.
        let device = arkor_engine::device::parse_device(arkor_settings::Settings::global().device.as_deref()).map_err(|e| format!("loading model {name}: {e}"))?;
        let model = self.store.load(name, &device).map_err(|e| match e {
            // Already says what to do.
            arkor_models::Error::NotInstalled { .. } => e.to_string(),
            e => format!("loading model {name}: {e}"),
        })?;
        let model = Arc::new(model);
        self.models.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), model.clone());
        Ok(model)
    }

    /// The adapter saved in `dir` for `model`. Checkpoint directories never
    /// change once written, so caching by path is safe.
    pub fn adapter(&self, model: &Model, dir: PathBuf) -> Result<Arc<LoraAdapter>, String> {
        if let Some(a) = self.adapters.lock().unwrap_or_else(|p| p.into_inner()).get(&dir) {
            return Ok(a.clone());
        }
        let adapter = LoraAdapter::load_peft(&dir, model.config(), model.device())
            .map_err(|e| format!("loading adapter {}: {e}", dir.display()))?;
        let adapter = Arc::new(adapter);
        self.adapters.lock().unwrap_or_else(|p| p.into_inner()).insert(dir, adapter.clone());
        Ok(adapter)
    }
}
