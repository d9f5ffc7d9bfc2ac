//! How much one request or one job may ask of the server. Every limit is
//! answered with an error that names the field and the limit.

use std::time::Duration;

/// The bounds a server enforces; [`Limits::default`] suits a workstation.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest JSON request body, in bytes (413 beyond it).
    pub body_bytes: usize,
    /// Most `messages` in one chat request.
    pub messages: usize,
    /// Most bytes of `content` over all `messages` of one chat request.
    pub message_bytes: usize,
    /// Largest dataset file read or downloaded, in bytes.
    pub dataset_bytes: u64,
    /// Most rows a job's dataset may have.
    pub dataset_rows: usize,
    /// Longest project or job `name`, in characters.
    pub name_chars: usize,
    /// Anonymous sign-ups one client address may make at once...
    pub signup_burst: u32,
    /// ...and then one more per this interval.
    pub signup_every: Duration,
}

/// Longest project slug.
pub const SLUG_CHARS: usize = 64;

/// Longest `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Largest LoRA rank (`loraR`) a job may ask for. The adapter and its optimiser state
/// grow with it (about 1 GB of memory at 256 on gemma-3-270m), and a rank beyond a
/// projection's width adds nothing; an unbounded one would ask the allocator for
/// terabytes, which aborts the process rather than failing the job.
pub const LORA_R: usize = 256;

/// Largest `batchSize`: activations grow with rows per step times their length, and a
/// step of more rows than this does not fit a workstation's memory at useful lengths.
pub const BATCH_SIZE: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1 << 20,
            messages: 256,
            message_bytes: 256 << 10,
            dataset_bytes: 1 << 30,
            dataset_rows: 1_000_000,
            name_chars: 200,
            signup_burst: 10,
            signup_every: Duration::from_secs(60),
        }
    }
}

/// `1 MiB`, `512 KiB`, `300 bytes`: a size as people read it.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::human_bytes(1 << 20), "1 MiB");
        assert_eq!(super::human_bytes(3 << 10), "3 KiB");
        assert_eq!(super::human_bytes(1000), "1000 bytes");
    }
}
