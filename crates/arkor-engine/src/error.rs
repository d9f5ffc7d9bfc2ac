//! The engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine, with enough context (file, row,
/// URL, tensor name) for the server to show the message to a user unchanged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed; `context` says which part of the engine ran it.
    #[error("{context}: {source}")]
    Tensor {
        /// What the engine was doing.
        context: String,
        /// candle's error.
        #[source]
        source: candle_core::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A model file (GGUF, safetensors, config.json) is missing something or malformed.
    #[error("model file {path}: {message}")]
    ModelFormat {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A checkpoint directory cannot be written or read back.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A dataset row (1-based, as a user counts lines/rows) is malformed.
    #[error("dataset {file}: row {row}: {message}")]
    DatasetRow {
        /// The file or URL the row came from.
        file: String,
        /// 1-based row number.
        row: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// A dataset's bytes cannot be parsed as a whole (no rows, an unknown container).
    #[error("dataset {source_name}: {message}")]
    Dataset {
        /// The dataset URL, repo or path.
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// The tokenizer cannot be built from the given vocabulary.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model name is not one the engine knows, or is not installed.
    #[error("model {name}: {message}")]
    Model {
        /// The requested model name or path.
        name: String,
        /// Why it cannot be used.
        message: String,
    },
    /// A grammar constraint does not compile, or failed while decoding.
    #[error(transparent)]
    Constraint(#[from] crate::generate::ConstraintError),
    /// Engine code panicked while decoding a sequence; the batch it was in carries on.
    #[error("internal error while generating: {0}")]
    Panicked(String),
    /// A training step produced a value that is not finite: the run diverged, and every
    /// later step and the adapter would be garbage.
    #[error("training diverged at step {step}: the {what} is {value}; lower learningRate (or loraAlpha, weightDecay) and run again")]
    Diverged {
        /// The 1-based step.
        step: usize,
        /// Which value: the loss, the gradient norm or the adapter's weights.
        what: &'static str,
        /// The value (NaN or an infinity).
        value: f64,
    },
    /// Training data produced no usable example (for instance, every label masked).
    #[error("training data: {0}")]
    NoTrainingData(String),
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to candle errors.
pub(crate) trait TensorContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> TensorContext<T> for candle_core::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Tensor { context: context(), source })
    }
}

impl From<candle_core::Error> for Error {
    fn from(source: candle_core::Error) -> Self {
        Error::Tensor { context: "tensor operation".into(), source }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
