//! Values given on the command line: `NAME=VALUE` pairs whose value may
//! come from a file (`NAME=@PATH`) or stdin (`NAME=-`), so that a sensitive
//! value need not sit in argv and shell history; record types; the size
//! limit every value is held to before it is read whole.

use std::collections::HashSet;
use std::io::Read;

use anyhow::{Context, Result};
use strongroom::Fields;

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
        Some((name, value)) if !name.is_empty() => {
            check_name(flag, name)?;
            Ok((name, value))
        }
        _ => Err(Usage(format!(
            "{flag} takes NAME=VALUE (an argument has no name or no `=`)"
        ))
        .into()),
    }
}

/// A field or plain meta name as the library takes it, or a usage error
/// (exit status 2, as for a bad record type).
fn check_name(flag: &str, name: &str) -> Result<()> {
    strongroom::check_name(name).map_err(|_| {
        Usage(format!(
            "{flag}: a name is 1 to 255 bytes without control characters"
        ))
        .into()
    })
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

/// A usage error for a name given twice to one flag (the later value
/// would silently win).
fn once<'a>(seen: &mut HashSet<&'a str>, flag: &str, name: &'a str) -> Result<()> {
    if seen.insert(name) {
        Ok(())
    } else {
        Err(Usage(format!("{flag} names `{name}` twice")).into())
    }
}

/// `-p NAME=VALUE` pairs, taken literally; each name once.
pub fn plain_pairs(args: &[String]) -> Result<Vec<(String, String)>> {
    let mut seen = HashSet::new();
    args.iter()
        .map(|arg| {
            let (name, value) = split(arg, "-p")?;
            once(&mut seen, "-p", name)?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// `-f` pairs with their values read: `NAME=VALUE`, `NAME=@PATH` (the
/// file's text), `NAME=-` (stdin's text, once), `NAME=@@…` (a value that
/// starts with `@`). Each value is at most `max` bytes, checked before it
/// is read whole. Each name once.
pub fn field_pairs(args: &[String], max: u64) -> Result<Vec<(String, String)>> {
    read_pairs("-f", args, max)
}

/// Pairs of `flag` whose values are read as `-f` reads them (`ls --where`
/// takes its values this way, so a value is searched as it was written).
pub fn read_pairs(flag: &str, args: &[String], max: u64) -> Result<Vec<(String, String)>> {
    read_pairs_from(flag, args, max, || std::io::stdin().lock())
}

/// [`read_pairs`] with `stdin` giving what `NAME=-` reads (called at most
/// once): the process's stdin, or a buffer in tests and the fuzz target.
pub fn read_pairs_from<R: Read>(
    flag: &str,
    args: &[String],
    max: u64,
    stdin: impl FnOnce() -> R,
) -> Result<Vec<(String, String)>> {
    let mut stdin = Some(stdin);
    let mut out = Vec::with_capacity(args.len());
    let mut seen = HashSet::new();
    for arg in args {
        let (name, value) = split(arg, flag)?;
        once(&mut seen, flag, name)?;
        let text = match source(value) {
            Source::Inline(text) => {
                check_size(name, text.len() as u64, max)?;
                text.to_owned()
            }
            Source::File(path) => read_file(name, path, max)?,
            Source::Stdin => {
                let Some(stdin) = stdin.take() else {
                    return Err(Usage(format!("only one {flag} NAME=- can read stdin")).into());
                };
                read_limited(name, stdin(), max)
                    .with_context(|| format!("reading field `{name}` from stdin"))?
            }
        };
        out.push((name.to_owned(), text));
    }
    Ok(out)
}

/// Whether any of these `-f` arguments reads stdin (`NAME=-`), by the
/// rule [`read_pairs_from`] reads them with.
pub fn reads_stdin(args: &[String]) -> bool {
    args.iter().any(|arg| {
        arg.split_once('=')
            .is_some_and(|(_, value)| matches!(source(value), Source::Stdin))
    })
}

/// A whole input (`--json FILE|-`) of at most `max` bytes.
pub fn read_input(source: &str, max: u64) -> Result<String> {
    if source == "-" {
        read_limited("--json", std::io::stdin().lock(), max).context("reading stdin")
    } else {
        read_file("--json", source, max)
    }
}

/// The sensitive fields of a `--json` input: a JSON object, each member a
/// field (any JSON value). Not JSON, or not an object, is a usage error;
/// serde_json's message gives the line and column and never quotes the
/// input.
pub fn json_fields(text: &str) -> Result<Fields> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| Usage(format!("--json is not valid JSON: {err}")))?;
    // An object naming a member twice: serde_json keeps the later value
    // silently, as `-f a=1 -f a=2` would, which is refused too.
    serde_json::from_str::<NoMemberTwice>(text).map_err(|err| Usage(format!("--json: {err}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| Usage("--json needs a JSON object".into()))?;
    for name in object.keys() {
        check_name("--json", name)?;
    }
    Ok(Fields::from_json_object(object)?)
}

/// A JSON text walked only to find an object that names a member twice
/// (at any depth); the error gives the line and column, never the name
/// (a member of a value is data).
struct NoMemberTwice;

impl<'de> serde::Deserialize<'de> for NoMemberTwice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoMemberTwiceVisitor)
    }
}

struct NoMemberTwiceVisitor;

impl<'de> serde::de::Visitor<'de> for NoMemberTwiceVisitor {
    type Value = NoMemberTwice;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_unit<E>(self) -> Result<NoMemberTwice, E> {
        Ok(NoMemberTwice)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<NoMemberTwice, A::Error> {
        while seq.next_element::<NoMemberTwice>()?.is_some() {}
        Ok(NoMemberTwice)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<NoMemberTwice, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(serde::de::Error::custom(
                    "an object names a member twice (the later value would silently win)",
                ));
            }
            map.next_value::<NoMemberTwice>()?;
        }
        Ok(NoMemberTwice)
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

/// Refuses a field value of `len` bytes over `--max-field-size` (`max`).
pub(crate) fn check_size(name: &str, len: u64, max: u64) -> Result<()> {
    if len > max {
        anyhow::bail!(
            "`{name}` is larger than --max-field-size ({max} bytes); larger bodies belong in files"
        );
    }
    Ok(())
}

/// A record type as every command takes it: 1 to 255 bytes, no control
/// or invisible characters, not blank, no leading or trailing whitespace
/// (`strongroom::check_record_type`; a clap value
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

    use proptest::prelude::*;

    /// `NAME=VALUE`-like arguments: names and values from a small alphabet
    /// with `=`, `@` and `-` in it, so that every form comes up.
    fn arg() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z=@-]{0,6}=[a-z=@ -]{0,12}", "[a-z=@-]{0,12}", ".{0,16}",]
    }

    fn stdin<'a>(bytes: &'a [u8]) -> impl FnOnce() -> &'a [u8] {
        move || bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// `-p` takes every value literally: an argument parses exactly
        /// when it has a valid name before its first `=`, into that split.
        #[test]
        fn plain_pairs_split_at_the_first_equals_sign(args in prop::collection::vec(arg(), 0..6)) {
            let names: Vec<&str> = args.iter().filter_map(|a| a.split_once('=').map(|(n, _)| n)).collect();
            let named = names.len() == args.len()
                && names.iter().all(|n| strongroom::check_name(n).is_ok())
                && names.iter().collect::<HashSet<_>>().len() == names.len();
            match plain_pairs(&args) {
                Ok(pairs) => {
                    prop_assert!(named);
                    for ((name, value), arg) in pairs.iter().zip(&args) {
                        prop_assert!(!name.contains('='));
                        prop_assert_eq!(&format!("{name}={value}"), arg);
                    }
                }
                Err(err) => {
                    prop_assert!(!named);
                    prop_assert!(err.downcast_ref::<Usage>().is_some());
                }
            }
        }

        /// `-f` never panics and never returns a value over the limit;
        /// `NAME=@@…` is the literal `@…`, `NAME=-` reads stdin (once).
        #[test]
        fn field_pairs_hold_every_value_to_the_limit(
            args in prop::collection::vec(arg(), 0..6),
            input in prop::collection::vec(any::<u8>(), 0..64),
            max in prop_oneof![Just(0u64), Just(1), Just(8), Just(DEFAULT_MAX_FIELD_SIZE)],
        ) {
            // Paths are not read here: `@PATH` (not `@@`) is left out.
            let args: Vec<String> = args
                .into_iter()
                .filter(|a| !a.split_once('=').is_some_and(|(_, v)| v.starts_with('@') && !v.starts_with("@@")))
                .collect();
            let stdin_args = args.iter().filter(|a| a.split_once('=').is_some_and(|(n, v)| !n.is_empty() && v == "-")).count();
            match read_pairs_from("-f", &args, max, stdin(&input)) {
                Ok(pairs) => {
                    prop_assert!(stdin_args <= 1);
                    prop_assert_eq!(pairs.len(), args.len());
                    for ((name, value), arg) in pairs.iter().zip(&args) {
                        prop_assert!(value.len() as u64 <= max);
                        let given = &arg[name.len() + 1..];
                        if given == "-" {
                            prop_assert_eq!(value.as_bytes(), &input[..]);
                        } else if let Some(literal) = given.strip_prefix('@') {
                            prop_assert_eq!(value, literal);
                        } else {
                            prop_assert_eq!(value, given);
                        }
                    }
                }
                Err(err) => {
                    // A usage error, a value over the limit or stdin that
                    // is not text: nothing else can go wrong here.
                    let text = format!("{err:#}");
                    prop_assert!(
                        err.downcast_ref::<Usage>().is_some()
                            || text.contains("--max-field-size")
                            || text.contains("not UTF-8"),
                        "{}", text
                    );
                }
            }
        }

        /// `--json` is accepted exactly when it is a JSON object whose
        /// member names are valid field names, with one field per member;
        /// anything else is a usage error.
        #[test]
        fn json_fields_take_exactly_an_object(
            text in prop_oneof![
                ".{0,24}",
                "\\{(\"[a-z]{0,3}\": ?(1|\"x\"|null|\\[\\]|\\{\\}),?){0,4}\\}",
                "\\[[0-9,]{0,8}\\]",
            ],
        ) {
            let parsed = serde_json::from_str::<serde_json::Value>(&text).ok();
            let object = parsed.as_ref().and_then(|v| v.as_object());
            let named = object.is_some_and(|o| o.keys().all(|k| strongroom::check_name(k).is_ok()));
            match json_fields(&text) {
                Ok(fields) => {
                    prop_assert!(named);
                    prop_assert_eq!(Some(fields.len()), object.map(|o| o.len()));
                }
                Err(err) => {
                    prop_assert!(!named);
                    prop_assert!(err.downcast_ref::<Usage>().is_some());
                }
            }
        }
    }

    #[test]
    fn a_name_given_twice_to_one_flag_is_a_usage_error() {
        let args = ["a=1".to_owned(), "b=2".to_owned(), "a=3".to_owned()];
        for result in [
            plain_pairs(&args),
            read_pairs_from("-f", &args, 16, stdin(b"")),
        ] {
            let err = result.unwrap_err();
            assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
            assert!(err.to_string().contains("names `a` twice"), "{err}");
        }
        assert_eq!(plain_pairs(&args[..2]).unwrap().len(), 2);
    }

    #[test]
    fn stdin_is_read_once_and_a_value_over_the_limit_is_refused() {
        let args = ["a=-".to_owned(), "b=-".to_owned()];
        let err = read_pairs_from("-f", &args, 64, stdin(b"x")).unwrap_err();
        assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
        let one = read_pairs_from("-f", &args[..1], 64, stdin(b"from stdin")).unwrap();
        assert_eq!(one, [("a".to_owned(), "from stdin".to_owned())]);
        let over = read_pairs_from("-f", &args[..1], 4, stdin(b"too long"));
        assert!(format!("{:#}", over.unwrap_err()).contains("--max-field-size"));
    }

    #[test]
    fn record_types_are_checked_alike_everywhere() {
        assert!(record_type("patient").is_ok());
        for bad in ["", " ", "\t", " patient", "patient ", "a\u{7}b"] {
            assert!(record_type(bad).is_err(), "{bad:?}");
        }
    }
}
