//! The base models a job may name.

/// Upstream's hosted model first, then the models the local engine serves.
pub const SUPPORTED_MODELS: &[&str] = &["unsloth/gemma-4-E4B-it", "google/gemma-3-270m", "arkor/tiny-gemma3"];

/// `Ok` when `model` is supported; otherwise an error that lists the choices.
pub fn check_model(model: &str) -> crate::Result<()> {
    if SUPPORTED_MODELS.contains(&model) {
        return Ok(());
    }
    Err(crate::Error::InvalidInput(format!(
        "Unsupported model \"{model}\" in `model`. Supported models: {}.",
        SUPPORTED_MODELS.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
    )))
}
