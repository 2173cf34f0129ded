//! The command line's `-p`, `-f` (and `--where`) and `--json` value
//! parsing: `cli/src/values.rs`, the CLI's own file, included by path.
//!
//! The input is four sections separated by NUL bytes: `-p` arguments (one
//! a line), `-f` arguments (one a line), the `--json` text, and what stdin
//! holds; its first byte picks `--max-field-size`. A `-f NAME=@PATH`
//! argument reads one of four fixture files (empty, text, not UTF-8, 5000
//! bytes) picked by the length of PATH, never a path from the input.
#![no_main]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The CLI's usage error, which `values.rs` names as `crate::Usage`.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[allow(dead_code)]
#[path = "../../cli/src/values.rs"]
mod values;

const MAX_SIZES: [u64; 5] = [0, 1, 16, 4096, values::DEFAULT_MAX_FIELD_SIZE];

fn fixtures() -> &'static [PathBuf; 4] {
    static FILES: OnceLock<[PathBuf; 4]> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("strongroom-fuzz-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a fixture folder");
        let contents: [&[u8]; 4] = [b"", b"Ada Lovelace\n", &[0xff, 0xfe, 0x00], &[b'x'; 5000]];
        let mut paths = Vec::new();
        for (n, content) in contents.iter().enumerate() {
            let path = dir.join(format!("fixture-{n}"));
            std::fs::write(&path, content).expect("a fixture file");
            paths.push(path);
        }
        paths.try_into().expect("four fixtures")
    })
}

fn lines(section: &[u8]) -> Vec<String> {
    if section.is_empty() {
        return Vec::new();
    }
    section
        .split(|b| *b == b'\n')
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect()
}

/// `NAME=@PATH` (not `@@`) made to name a fixture instead of PATH.
fn to_fixture(arg: String) -> String {
    match arg.split_once('=') {
        Some((name, value)) if value.starts_with('@') && !value.starts_with("@@") => {
            let file = &fixtures()[(value.len() - 1) % 4];
            format!("{name}=@{}", file.display())
        }
        _ => arg,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let max = MAX_SIZES[usize::from(pick) % MAX_SIZES.len()];
    let mut sections = rest.splitn(4, |b| *b == 0);
    let plain_args = lines(sections.next().unwrap_or_default());
    let field_args: Vec<String> = lines(sections.next().unwrap_or_default())
        .into_iter()
        .map(to_fixture)
        .collect();
    let json = String::from_utf8_lossy(sections.next().unwrap_or_default()).into_owned();
    let stdin = sections.next().unwrap_or_default().to_vec();

    if let Ok(pairs) = values::plain_pairs(&plain_args) {
        assert_eq!(pairs.len(), plain_args.len());
        for ((name, value), arg) in pairs.iter().zip(&plain_args) {
            assert!(!name.is_empty() && !name.contains('='));
            assert_eq!(format!("{name}={value}"), *arg, "-p takes the value literally");
        }
    }
    for arg in &plain_args {
        let _ = values::record_type(arg);
    }
    for flag in ["-f", "--where"] {
        let read = values::read_pairs_from(flag, &field_args, max, || Cursor::new(stdin.clone()));
        if let Ok(pairs) = read {
            assert_eq!(pairs.len(), field_args.len());
            for (name, value) in &pairs {
                assert!(!name.is_empty());
                assert!(value.len() as u64 <= max, "a value is at most --max-field-size");
            }
        }
    }
    if let Ok(fields) = values::json_fields(&json) {
        let object: serde_json::Value = serde_json::from_str(&json).expect("it parsed");
        assert_eq!(fields.len(), object.as_object().expect("an object").len());
    }
});
