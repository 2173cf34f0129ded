//! RFC 9180 Appendix A.2.3 known-answer test: DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305, mode_auth — the exact suite strongroom
//! wraps access keys with, through orion 0.18's `ModeAuth`.
//!
//! The vector file is a verbatim copy of the RFC's appendix text
//! (tests/vectors/rfc9180-a23-auth-x25519-chacha20poly1305.txt).

use std::collections::BTreeMap;

use orion::hazardous::hpke::{ModeAuth, DHKEM_X25519_SHA256_CHACHA20};
use orion::hazardous::kem::x25519_hkdf_sha256::{KeyPair, PrivateKey, PublicKey};
use orion::KP;

type Hpke = ModeAuth<DHKEM_X25519_SHA256_CHACHA20>;

const VECTORS: &str = include_str!("vectors/rfc9180-a23-auth-x25519-chacha20poly1305.txt");

/// Key/value entries in the order they appear, per section.
#[derive(Default)]
struct Parsed {
    setup: BTreeMap<String, String>,
    encryptions: Vec<BTreeMap<String, String>>,
    exports: Vec<BTreeMap<String, String>>,
}

fn parse(text: &str) -> Parsed {
    #[derive(PartialEq)]
    enum Section {
        Setup,
        Encryptions,
        Exports,
    }
    let mut parsed = Parsed::default();
    let mut section = Section::Setup;
    let mut current: Option<(String, String)> = None;
    let mut group: BTreeMap<String, String> = BTreeMap::new();

    fn flush(
        section: &Section,
        parsed: &mut Parsed,
        group: &mut BTreeMap<String, String>,
        starts_group: bool,
    ) {
        if group.is_empty() {
            return;
        }
        match section {
            Section::Setup => {
                if !starts_group {
                    return;
                }
                parsed.setup.append(group)
            }
            Section::Encryptions => parsed.encryptions.push(std::mem::take(group)),
            Section::Exports => parsed.exports.push(std::mem::take(group)),
        }
    }

    for line in text.lines().map(str::trim) {
        let is_hex = !line.is_empty() && line.chars().all(|c| c.is_ascii_hexdigit());
        if is_hex {
            if let Some((_, value)) = current.as_mut() {
                value.push_str(line);
                continue;
            }
        }
        if let Some((key, value)) = current.take() {
            group.insert(key, value);
        }
        if line.starts_with("####") {
            flush(&section, &mut parsed, &mut group, true);
            section = if line.contains("Encryptions") {
                Section::Encryptions
            } else {
                Section::Exports
            };
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with("~~~") {
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim().to_owned();
            let starts_group = matches!(key.as_str(), "sequence number" | "exporter_context");
            if starts_group {
                flush(&section, &mut parsed, &mut group, false);
            }
            current = Some((key, value.trim().to_owned()));
        }
    }
    if let Some((key, value)) = current.take() {
        group.insert(key, value);
    }
    flush(&section, &mut parsed, &mut group, true);
    parsed
}

fn hex(map: &BTreeMap<String, String>, key: &str) -> Vec<u8> {
    hex::decode(map.get(key).unwrap_or_else(|| panic!("vector lacks {key}")))
        .unwrap_or_else(|_| panic!("{key} is not hex"))
}

fn private(bytes: &[u8]) -> PrivateKey {
    PrivateKey::try_from(bytes).unwrap()
}

fn public(bytes: &[u8]) -> PublicKey {
    PublicKey::try_from(bytes).unwrap()
}

#[test]
fn rfc9180_a23_auth_mode_vectors() {
    let v = parse(VECTORS);
    let s = &v.setup;
    assert_eq!(s["mode"], "2");
    assert_eq!(s["kem_id"], "32");
    assert_eq!(s["kdf_id"], "1");
    assert_eq!(s["aead_id"], "3");
    assert_eq!(Hpke::MODE_ID, 2);
    assert_eq!(DHKEM_X25519_SHA256_CHACHA20::KEM_ID, [0x00, 0x20]);
    assert_eq!(DHKEM_X25519_SHA256_CHACHA20::KDF_ID, [0x00, 0x01]);
    assert_eq!(DHKEM_X25519_SHA256_CHACHA20::AEAD_ID, [0x00, 0x03]);

    let info = hex(s, "info");
    let enc = public(&hex(s, "enc"));
    let sk_r = private(&hex(s, "skRm"));
    let pk_r = public(&hex(s, "pkRm"));
    let pk_s = public(&hex(s, "pkSm"));
    let sk_s = hex(s, "skSm");
    let sk_e = hex(s, "skEm");

    // DeriveKeyPair(ikm) gives the listed public keys.
    for (ikm, pk) in [("ikmR", "pkRm"), ("ikmS", "pkSm"), ("ikmE", "pkEm")] {
        let kp = KeyPair::derive(&hex(s, ikm)).unwrap();
        assert_eq!(kp.public().as_ref(), hex(s, pk).as_slice(), "{ikm} -> {pk}");
    }

    // The KEM's shared secret, from both sides.
    let shared = hex(s, "shared_secret");
    let decapped = KeyPair::auth_decap(&enc, &sk_r, &pk_s).unwrap();
    assert_eq!(decapped.unprotected_as_ref(), shared.as_slice());
    let (encapped, enc_again) =
        KeyPair::auth_encap_deterministic(&pk_r, &private(&sk_s), private(&sk_e)).unwrap();
    assert_eq!(encapped.unprotected_as_ref(), shared.as_slice());
    assert_eq!(enc_again, enc);

    // Recipient side: open the consecutive sequence numbers from 0 with one
    // context (the API has no way to skip a sequence number on open).
    let mut recipient = Hpke::new_recipient(&enc, &sk_r, &info, &pk_s).unwrap();
    let mut opened = 0;
    for (expected_seq, e) in v.encryptions.iter().enumerate() {
        let seq: usize = e["sequence number"].parse().unwrap();
        if seq != expected_seq {
            break;
        }
        let ct = hex(e, "ct");
        let mut pt = vec![0u8; ct.len() - 16];
        recipient.open(&ct, &hex(e, "aad"), &mut pt).unwrap();
        assert_eq!(pt, hex(e, "pt"), "open of sequence {seq}");
        opened += 1;
    }
    assert_eq!(opened, 3, "sequences 0, 1 and 2 opened");

    // Sender side, deterministic ephemeral key: every listed sequence number
    // (0, 1, 2, 4, 255, 256) seals to the listed ciphertext.
    let mut sealed = 0;
    for e in &v.encryptions {
        let seq: usize = e["sequence number"].parse().unwrap();
        let (mut sender, enc_s) =
            Hpke::new_sender_deterministic(&pk_r, &info, &private(&sk_s), private(&sk_e)).unwrap();
        assert_eq!(enc_s, enc);
        let mut scratch = [0u8; 16];
        for _ in 0..seq {
            sender.seal(&[], b"", &mut scratch).unwrap();
        }
        let pt = hex(e, "pt");
        let mut ct = vec![0u8; pt.len() + 16];
        sender.seal(&pt, &hex(e, "aad"), &mut ct).unwrap();
        assert_eq!(ct, hex(e, "ct"), "seal of sequence {seq}");
        sealed += 1;
    }
    assert_eq!(sealed, 6, "all six listed encryptions sealed");

    // Exported values (entries whose value the file lists in full).
    let mut exported = 0;
    for x in v
        .exports
        .iter()
        .filter(|x| x.contains_key("exported_value"))
    {
        let len: usize = x["L"].parse().unwrap();
        let mut out = vec![0u8; len];
        recipient
            .export_secret(&hex(x, "exporter_context"), &mut out)
            .unwrap();
        assert_eq!(out, hex(x, "exported_value"));
        exported += 1;
    }
    assert_eq!(exported, 3, "the RFC's three exporter vectors");
}

#[test]
fn rfc9180_a23_rejects_wrong_sender_key_and_tampering() {
    let v = parse(VECTORS);
    let s = &v.setup;
    let info = hex(s, "info");
    let enc = public(&hex(s, "enc"));
    let sk_r = private(&hex(s, "skRm"));
    let e0 = &v.encryptions[0];
    let ct = hex(e0, "ct");
    let aad = hex(e0, "aad");
    let mut pt = vec![0u8; ct.len() - 16];

    // A wrong pkS (here the ephemeral key, and the recipient's own key).
    for wrong in ["pkEm", "pkRm"] {
        let mut r = Hpke::new_recipient(&enc, &sk_r, &info, &public(&hex(s, wrong))).unwrap();
        assert!(
            r.open(&ct, &aad, &mut pt).is_err(),
            "pkS = {wrong} must fail"
        );
    }

    let pk_s = public(&hex(s, "pkSm"));
    // Wrong info, wrong aad, every flipped ciphertext byte.
    let mut r = Hpke::new_recipient(&enc, &sk_r, b"other info", &pk_s).unwrap();
    assert!(r.open(&ct, &aad, &mut pt).is_err());
    let mut r = Hpke::new_recipient(&enc, &sk_r, &info, &pk_s).unwrap();
    assert!(r.open(&ct, b"Count-1", &mut pt).is_err());
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let mut r = Hpke::new_recipient(&enc, &sk_r, &info, &pk_s).unwrap();
        assert!(r.open(&bad, &aad, &mut pt).is_err(), "flip at {i}");
    }
}
