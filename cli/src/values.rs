//! Values given on the command line: `NAME=VALUE` pairs whose value may
//! come from a file (`NAME=@PATH`) or stdin (`NAME=-`), so that a sensitive
//! value need not sit in argv and shell history; record types; the size
//! limit every value is held to before it is read whole.

use std::io::Read;

use anyhow::{Context, Result};

use crate::Usage;

/// The default `--max-field-size`: 16 MiB (larger bodies belong in files).
pub const DEFAULT_MAX_FIELD_SIZE: u64 = 16 * 1024 * 1024;

/// Where a field's value comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    Inline(&'a str),
    File(&'a str),
    Stdin,
}

/// Splits `NAME=VALUE` (never echoing the argument: it may be sensitive).
fn split<'a>(arg: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name, value)),
        _ => Err(Usage(format!(
            "{flag} takes NAME=VALUE (an argument has no name or no `=`)"
        ))
        .into()),
    }
}

fn source(value: &str) -> Source<'_> {
    if value == "-" {
        Source::Stdin
    } else if value.starts_with("@@") {
        // `@@text` is the literal `@text`.
        Source::Inline(&value[1..])
    } else if let Some(path) = value.strip_prefix('@') {
        Source::File(path)
    } else {
        Source::Inline(value)
    }
}

/// `-p NAME=VALUE` pairs, taken literally.
pub fn plain_pairs(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|arg| split(arg, "-p").map(|(n, v)| (n.to_owned(), v.to_owned())))
        .collect()
}

/// `-f` pairs with their values read: `NAME=VALUE`, `NAME=@PATH` (the
/// file's text), `NAME=-` (stdin's text, once), `NAME=@@…` (a value that
/// starts with `@`). Each value is at most `max` bytes, checked before it
/// is read whole.
pub fn field_pairs(args: &[String], max: u64) -> Result<Vec<(String, String)>> {
    read_pairs("-f", args, max)
}

/// Pairs of `flag` whose values are read as `-f` reads them (`ls --where`
/// takes its values this way, so a value is searched as it was written).
pub fn read_pairs(flag: &str, args: &[String], max: u64) -> Result<Vec<(String, String)>> {
    let mut stdin_used = false;
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        let (name, value) = split(arg, flag)?;
        let text = match source(value) {
            Source::Inline(text) => {
                check_size(name, text.len() as u64, max)?;
                text.to_owned()
            }
            Source::File(path) => read_file(name, path, max)?,
            Source::Stdin => {
                if stdin_used {
                    return Err(Usage(format!("only one {flag} NAME=- can read stdin")).into());
                }
                stdin_used = true;
                read_limited(name, std::io::stdin().lock(), max)
                    .with_context(|| format!("reading field `{name}` from stdin"))?
            }
        };
        out.push((name.to_owned(), text));
    }
    Ok(out)
}

/// A whole input (`--json FILE|-`) of at most `max` bytes.
pub fn read_input(source: &str, max: u64) -> Result<String> {
    if source == "-" {
        read_limited("--json", std::io::stdin().lock(), max).context("reading stdin")
    } else {
        read_file("--json", source, max)
    }
}

fn read_file(name: &str, path: &str, max: u64) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {path}"))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading {path}"))?
        .len();
    check_size(name, len, max)?;
    read_limited(name, file, max).with_context(|| format!("reading {path}"))
}

/// Reads at most `max` bytes, failing (without reading on) past them.
fn read_limited(name: &str, reader: impl Read, max: u64) -> Result<String> {
    let mut bytes = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    check_size(name, bytes.len() as u64, max)?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!("`{name}` is not UTF-8 text (the command line stores text values)")
    })
}

fn check_size(name: &str, len: u64, max: u64) -> Result<()> {
    if len > max {
        anyhow::bail!(
            "`{name}` is larger than --max-field-size ({max} bytes); larger bodies belong in files"
        );
    }
    Ok(())
}

/// A record type as every command takes it: 1 to 255 bytes, no control
/// characters, not blank, no leading or trailing whitespace (a clap value
/// parser, so a bad one is a usage error, exit status 2).
pub fn record_type(text: &str) -> std::result::Result<String, String> {
    strongroom::check_record_type(text)
        .map(|()| text.to_owned())
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_names_its_source() {
        assert_eq!(source("text"), Source::Inline("text"));
        assert_eq!(source("-"), Source::Stdin);
        assert_eq!(source("@notes.txt"), Source::File("notes.txt"));
        assert_eq!(source("@@handle"), Source::Inline("@handle"));
        assert_eq!(source(""), Source::Inline(""));
    }

    #[test]
    fn a_value_over_the_limit_is_refused_before_it_is_read_whole() {
        let long = std::io::repeat(b'x');
        let err = read_limited("big", long, 1024).unwrap_err();
        assert!(err.to_string().contains("--max-field-size"), "{err}");
        assert_eq!(read_limited("ok", &b"fits"[..], 4).unwrap(), "fits");
    }

    #[test]
    fn record_types_are_checked_alike_everywhere() {
        assert!(record_type("patient").is_ok());
        for bad in ["", " ", "\t", " patient", "patient ", "a\u{7}b"] {
            assert!(record_type(bad).is_err(), "{bad:?}");
        }
    }
}
