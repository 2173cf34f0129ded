//! Looking for secrets in text (logs, error messages, stderr): literal
//! markers, and byte strings (keys, envelopes, wrapped keys, file chunks) in
//! every text form they could be printed in.
//!
//! A byte string is registered in each encoding — hex (lower and upper
//! case), base64 (standard and URL-safe alphabets, padded and unpadded,
//! from each of the three byte alignments, so a slice of it printed on its
//! own is found too) and Rust's `Debug` of a byte slice (`[12, 200, …]`) —
//! and every window of [`WINDOW`] characters of each encoding is kept (as a
//! hash). A text leaks the bytes if any [`WINDOW`]-character run of it is
//! such a window: at least 12 bytes of the secret in hex, 18 in base64, so a
//! short chance match (a common prefix, a length byte) is not a finding.
#![allow(dead_code)]

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use strongroom::hazmat::record::decode_fields;
use strongroom::hazmat::wrap::{unwrap_access_key, WrapContext};
use strongroom::{ClientId, Profile};

use crate::common::{self, TestDb};

/// Characters of an encoding that count as a leak.
pub const WINDOW: usize = 24;
/// Characters of a `Debug` byte list (`[1, 22, 133, …]`) that count.
pub const DEBUG_WINDOW: usize = 48;

/// Secrets to look for, each with a label for the report.
#[derive(Default)]
pub struct Secrets {
    labels: Vec<String>,
    literals: Vec<(usize, String)>,
    windows: HashMap<u64, usize>,
    debug_windows: HashMap<u64, usize>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 of `bytes` in `alphabet`, padded or not (written out here so the
/// CLI's tests need no base64 crate).
pub fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Unpadded URL-safe base64 (the `srf1.`/`srk1.` text forms).
pub fn base64url(bytes: &[u8]) -> String {
    base64(bytes, URL_SAFE, false)
}

/// Every text form a byte string could be printed in.
pub fn encodings(bytes: &[u8]) -> Vec<String> {
    let mut forms = vec![hex::encode(bytes), hex::encode_upper(bytes)];
    for skip in 0..3.min(bytes.len()) {
        for alphabet in [STANDARD, URL_SAFE] {
            for pad in [false, true] {
                forms.push(base64(&bytes[skip..], alphabet, pad));
            }
        }
    }
    forms
}

impl Secrets {
    fn label(&mut self, label: &str) -> usize {
        self.labels.push(label.to_owned());
        self.labels.len() - 1
    }

    /// A text that must not appear anywhere, as it is (a plaintext marker,
    /// a passphrase, an envelope's text form).
    pub fn literal(&mut self, label: &str, text: &str) {
        assert!(text.len() >= 8, "{label}: too short to look for");
        let at = self.label(label);
        self.literals.push((at, text.to_owned()));
    }

    /// Bytes that must not appear in any encoding (see the module docs).
    pub fn bytes(&mut self, label: &str, bytes: &[u8]) {
        assert!(bytes.len() >= 16, "{label}: too short to look for");
        let at = self.label(label);
        for form in encodings(bytes) {
            for w in form.as_bytes().windows(WINDOW) {
                self.windows.insert(hash(w), at);
            }
        }
        let debug = format!("{bytes:?}");
        for w in debug.as_bytes().windows(DEBUG_WINDOW) {
            self.debug_windows.insert(hash(w), at);
        }
    }

    /// How many secrets are registered.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// What of the secrets `text` holds: one line per finding, naming the
    /// secret and where (`place`) it was found, with some context.
    pub fn findings(&self, place: &str, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let excerpt = |at: usize, len: usize| {
            let mut start = at.saturating_sub(40);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + len + 40).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text[start..end].to_owned()
        };
        for (label, literal) in &self.literals {
            if let Some(at) = text.find(literal.as_str()) {
                found.push(format!(
                    "{place}: {} in …{}…",
                    self.labels[*label],
                    excerpt(at, literal.len())
                ));
            }
        }
        for (size, windows) in [(WINDOW, &self.windows), (DEBUG_WINDOW, &self.debug_windows)] {
            for (at, w) in text.as_bytes().windows(size).enumerate() {
                if let Some(label) = windows.get(&hash(w)) {
                    found.push(format!(
                        "{place}: {} in …{}…",
                        self.labels[*label],
                        excerpt(at, size)
                    ));
                    break;
                }
            }
        }
        found
    }

    /// Panics with every finding in `texts` (place, text), if any.
    pub fn assert_absent<'a>(&self, texts: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut found = Vec::new();
        let mut checked = 0;
        for (place, text) in texts {
            checked += 1;
            found.extend(self.findings(place, text));
        }
        assert!(checked > 0, "nothing to check");
        assert!(
            found.is_empty(),
            "{} secret(s) leaked:\n{}",
            found.len(),
            found.join("\n")
        );
    }
}

/// A `|`-joined row of the text columns `columns` of `table`.
pub fn rows(db: &TestDb, table: &str, columns: &[String]) -> Vec<Vec<String>> {
    let joined = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), '')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    db.texts(&format!("SELECT {joined} AS t FROM {table}"))
        .into_iter()
        .map(|r| r.split('|').map(str::to_owned).collect())
        .collect()
}

/// Registers what the database holds now: every envelope (bytes and
/// `srf1.` text), wrapped key (bytes and `srk1.` text), file head and
/// chunk, and every access key that the `clients` (their profiles) can
/// unwrap from it.
pub fn harvest(db: &TestDb, clients: &[&Profile], secrets: &mut Secrets) {
    let mut envelopes = 0;
    for row in rows(
        db,
        "records",
        &[db.hex("sealed_fields"), db.hex("file_head")],
    ) {
        // A row a test spoiled on purpose holds garbage, not envelopes.
        let column = common::unhex(&row[0]);
        for (name, envelope) in decode_fields(&column).unwrap_or_default() {
            secrets.bytes(&format!("envelope of field {name}"), envelope.as_bytes());
            secrets.literal(&format!("srf1 envelope of {name}"), &envelope.to_text());
            envelopes += 1;
        }
        if !row[1].is_empty() {
            secrets.bytes("file head", &common::unhex(&row[1]));
        }
    }
    for row in rows(db, "file_chunks", &[db.hex("chunk")]) {
        secrets.bytes("file chunk", &common::unhex(&row[0]));
    }
    let columns = [
        db.id_text("writer_id"),
        "record_type".to_owned(),
        "key_version".to_owned(),
        db.id_text("reader_id"),
        db.id_text("wrapper_id"),
        db.hex("wrapped_key"),
    ];
    assert!(envelopes > 0, "no envelope found");
    let mut unwrapped = 0;
    for row in rows(db, "access_keys", &columns) {
        let body = common::unhex(&row[5]);
        let text = format!("srk1.{}", base64url(&body));
        secrets.bytes("wrapped access key", &body);
        secrets.literal("srk1 wrapped access key", &text);
        let id = |s: &str| -> ClientId { s.parse().unwrap() };
        let ctx = WrapContext {
            writer_id: id(&row[0]),
            record_type: &row[1],
            key_version: row[2].parse().unwrap(),
            reader_id: id(&row[3]),
            wrapper_id: id(&row[4]),
        };
        let id_of = |p: &&&Profile| p.identity().client_id();
        let reader = clients.iter().find(|p| id_of(p) == ctx.reader_id);
        let wrapper = clients.iter().find(|p| id_of(p) == ctx.wrapper_id);
        if let (Some(reader), Some(wrapper)) = (reader, wrapper) {
            let key = unwrap_access_key(
                &text,
                &ctx,
                reader.identity().encryption_secret(),
                &wrapper.identity().public().encryption_key,
            )
            .expect("a stored key unwraps for its reader");
            secrets.bytes(
                &format!("access key {} v{}", ctx.record_type, ctx.key_version),
                key.unprotected_as_bytes(),
            );
            unwrapped += 1;
        }
    }
    assert!(unwrapped > 0, "no access key unwrapped");
}

/// Every secret key of the profile, in every form.
pub fn profile_secrets(name: &str, profile: &Profile, secrets: &mut Secrets) {
    let identity = profile.identity();
    secrets.bytes(
        &format!("{name}'s encryption secret key"),
        identity.encryption_secret().unprotected_as_bytes(),
    );
    secrets.bytes(
        &format!("{name}'s signing secret key"),
        identity.signing_secret().unprotected_as_bytes(),
    );
}
