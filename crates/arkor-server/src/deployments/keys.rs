//! Deployment API keys: made from 256 random bits, shown once, stored as
//! their SHA-256 only. A plain hash is enough: with that much entropy no
//! dictionary helps, and the lookup by hash needs no per-key salt.

use sha2::{Digest, Sha256};

/// What every key starts with, so a leaked one is recognisable in logs
/// and secret scanners (upstream's keys look the same).
const KEY_PREFIX: &str = "ark_live_";

/// How many random characters after [`KEY_PREFIX`] the display prefix keeps:
/// enough to tell keys apart, far too few to guess the rest.
const SHOWN_CHARS: usize = 8;

/// A freshly made key.
pub(crate) struct NewKey {
    /// The full key, returned to the caller once and never stored.
    pub(crate) plaintext: String,
    /// Its display prefix, e.g. `ark_live_1a2b3c4d`.
    pub(crate) prefix: String,
    /// Its hash, the only form kept.
    pub(crate) hash: String,
}

/// A new random key.
pub(crate) fn generate() -> NewKey {
    let secret = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
    let plaintext = format!("{KEY_PREFIX}{secret}");
    let prefix = plaintext[..KEY_PREFIX.len() + SHOWN_CHARS].to_owned();
    let hash = hash(&plaintext);
    NewKey { plaintext, prefix, hash }
}

/// The stored form of a presented key.
pub(crate) fn hash(plaintext: &str) -> String {
    Sha256::digest(plaintext.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_only_their_hash_matches() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with(&a.prefix) && a.prefix.starts_with(KEY_PREFIX));
        assert_eq!(a.plaintext.len(), KEY_PREFIX.len() + 64);
        assert_eq!(hash(&a.plaintext), a.hash);
        assert_ne!(hash(&b.plaintext), a.hash);
        assert!(!a.hash.contains(&a.plaintext[KEY_PREFIX.len()..]));
    }
}
