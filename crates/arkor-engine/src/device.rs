//! Which device the weights and activations live on.

use candle_core::Device;

use crate::error::{Error, Result};

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

