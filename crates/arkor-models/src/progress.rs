//! Progress reports of an installation.

/// The step an installation is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `pip download` is fetching the wheels; bytes received.
    Download,
    /// The wheels are being unpacked; bytes of wheels done.
    Unpack,
    /// The chunks are being concatenated and hashed; bytes written.
    Verify,
}

impl Phase {
    /// The phase's name as JS sees it: `download`, `unpack`, `verify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Download => "download",
            Phase::Unpack => "unpack",
            Phase::Verify => "verify",
        }
    }
}

/// `done` of `total` bytes in `phase`. `done` never goes back within a phase and never
/// exceeds `total`: a download larger than published raises `total` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The step.
    pub phase: Phase,
    /// Bytes done in this step.
    pub done: u64,
    /// Bytes this step is expected to reach.
    pub total: u64,
}

/// Where progress goes: a callback, or nowhere.
pub(crate) type OnProgress<'a> = Option<&'a mut dyn FnMut(Progress)>;

/// Sends `p` to the callback, if there is one.
pub(crate) fn report(on: &mut OnProgress<'_>, phase: Phase, done: u64, total: u64) {
    if let Some(f) = on.as_deref_mut() {
        f(Progress { phase, done: done.min(total), total });
    }
}
