//! `index.d.ts` restates the shapes of this crate for TypeScript (it must
//! type-check upstream's snippets exactly, so it is written by hand). These
//! tests hold its interfaces to the same field lists, so a field added or
//! renamed on one side fails here until the other follows.

use std::collections::BTreeSet;

use arkor_protocol::job::{BlobSource, DatasetSource, HubSource, JobConfig, LocalSettings, LoraInput, TrainSettings, TrainerInput};

const DTS: &str = include_str!("../../../index.d.ts");

/// The member names of `interface name { ... }` in `index.d.ts`, those of
/// the interfaces it extends included (members at the interface's own
/// level, not those of nested object types).
fn members(name: &str) -> BTreeSet<String> {
    let (start, header) = DTS
        .lines()
        .enumerate()
        .map(|(i, l)| (i, l.trim_start_matches("export ")))
        .find(|(_, l)| l.starts_with(&format!("interface {name} ")))
        .unwrap_or_else(|| panic!("no interface {name} in index.d.ts"));
    let mut out = BTreeSet::new();
    if let Some(bases) = header.split(" extends ").nth(1) {
        for base in bases.trim_end_matches('{').split(',') {
            out.extend(members(base.trim()));
        }
    }
    let mut depth = 0usize;
    for line in DTS.lines().skip(start) {
        let code = line.split("//").next().unwrap_or_default();
        if depth == 1 {
            let t = code.trim_start();
            let key: String = t.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let rest = &t[key.len()..];
            if !key.is_empty() && (rest.starts_with(':') || rest.starts_with("?:")) {
                out.insert(key);
            }
        }
        for c in code.chars() {
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => depth -= 1,
                _ => {}
            }
        }
        if depth == 0 {
            break;
        }
    }
    out
}

fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

#[test]
fn job_config_lists_the_same_fields() {
    let local = set(LocalSettings::fields());
    let sent: BTreeSet<String> = set(JobConfig::fields()).difference(&local).cloned().collect();
    assert_eq!(members("JobConfig"), sent);
}

#[test]
fn trainer_input_lists_the_same_fields_plus_its_js_values() {
    let mut expected = set(TrainerInput::fields());
    expected.extend(set(["callbacks", "abortSignal"]));
    assert_eq!(members("TrainerInput"), expected);
    assert_eq!(members("LoraConfig"), set(LoraInput::fields()));
}

#[test]
fn dataset_sources_list_the_same_fields_and_tags() {
    for (interface, tag, fields) in [
        ("BlobDatasetSource", DatasetSource::BLOB, BlobSource::fields()),
        ("HuggingfaceDatasetSource", DatasetSource::HUGGINGFACE, HubSource::fields()),
    ] {
        let mut expected = set(fields);
        expected.insert(DatasetSource::TAG.to_owned());
        assert_eq!(members(interface), expected, "{interface}");
        let tag_line = format!("{}: \"{tag}\";", DatasetSource::TAG);
        let start = DTS.find(&format!("interface {interface} ")).unwrap();
        assert!(DTS[start..].split('}').next().unwrap().contains(&tag_line), "{interface} has no `{tag_line}`");
    }
}

#[test]
fn the_reader_sees_nested_members_apart_and_follows_extends() {
    // `TrainerCallbacks` has nested object types: only its five callbacks count.
    assert_eq!(members("TrainerCallbacks"), set(["onStarted", "onLog", "onCheckpoint", "onCompleted", "onFailed"]));
    let shared = set(TrainSettings::fields());
    assert!(members("TrainingSettings") == shared && members("JobConfig").is_superset(&shared));
}
