//! Unpadded base64url, strict: padding and non-zero trailing bits are errors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the unpadded base64url form of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes unpadded base64url; any other form is an error.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// A text form (FORMAT.md): `prefix` followed by unpadded base64url of
/// `bytes`.
pub(crate) fn prefixed(prefix: &str, bytes: &[u8]) -> String {
    let mut text = String::with_capacity(prefix.len() + bytes.len().div_ceil(3) * 4);
    text.push_str(prefix);
    encode_into(bytes, &mut text);
    text
}

/// The bytes of a text form made by [`prefixed`] with `prefix`; `None`
/// for another prefix or bad base64url.
pub(crate) fn unprefixed(prefix: &str, text: &str) -> Option<Vec<u8>> {
    decode(text.strip_prefix(prefix)?).ok()
}
