//! The base models a job may name.

/// Upstream's hosted model first, then the models the local engine serves.
pub const SUPPORTED_MODELS: &[&str] = &["unsloth/gemma-4-E4B-it", "google/gemma-3-270m", "arkor/tiny-gemma3"];

/// `Ok` when `model` is supported; otherwise upstream's error, word for
/// word, listing the choices.
pub fn check_model(model: &str) -> crate::Result<()> {
    if SUPPORTED_MODELS.contains(&model) {
        return Ok(());
    }
    Err(crate::Error::UnsupportedModel(model.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_model_message_is_upstreams() {
        assert_eq!(
            check_model("gpt-2").unwrap_err().to_string(),
            "Unsupported model \"gpt-2\". This arkor release supports: unsloth/gemma-4-E4B-it, google/gemma-3-270m, \
             arkor/tiny-gemma3. If the backend already accepts this model, upgrade arkor or submit through CloudApiClient.createJob."
        );
        assert!(check_model("arkor/tiny-gemma3").is_ok());
    }
}
