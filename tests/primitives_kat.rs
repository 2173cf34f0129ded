//! Known answers for the primitives under record batch signatures, from
//! the published RFCs (tests/vectors/rfc8032-ed25519-and-rfc7693-blake2b.txt):
//! Ed25519 (RFC 8032 section 7.1) through strongroom's signing key type,
//! and BLAKE2b (RFC 7693 appendix A) through orion, which hashes the
//! record digests.

use ed25519_dalek::{Signer, Verifier};
use strongroom::hazmat::SigningSecretKey;

const VECTORS: &str = include_str!("vectors/rfc8032-ed25519-and-rfc7693-blake2b.txt");

fn lines(kind: &str) -> Vec<Vec<Vec<u8>>> {
    VECTORS
        .lines()
        .filter(|l| l.starts_with(kind))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|h| {
                    if h == "-" {
                        Vec::new()
                    } else {
                        hex::decode(h).unwrap()
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn ed25519_rfc8032_section_7_1() {
    let vectors = lines("ed25519 ");
    assert_eq!(vectors.len(), 3, "TEST 1, 2 and 3");
    for v in vectors {
        let seed: [u8; 32] = v[0].clone().try_into().unwrap();
        let secret = SigningSecretKey::from_bytes(seed);
        let public = secret.public_key();
        assert_eq!(public.as_bytes()[..], v[1][..], "public key");
        let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
        let signature = dalek.sign(&v[2]);
        assert_eq!(signature.to_bytes()[..], v[3][..], "signature");
        let key = ed25519_dalek::VerifyingKey::from_bytes(public.as_bytes()).unwrap();
        key.verify(&v[2], &signature).unwrap();
        key.verify_strict(&v[2], &signature).unwrap();
        let mut bad = v[2].clone();
        bad.push(0);
        assert!(
            key.verify_strict(&bad, &signature).is_err(),
            "another message"
        );
    }
}

#[test]
fn blake2b_rfc7693_appendix_a() {
    let vectors = lines("blake2b-512 ");
    assert_eq!(vectors.len(), 1);
    let mut hasher = orion::hazardous::hash::blake2::blake2b::Blake2b::new(64).unwrap();
    hasher.update(&vectors[0][0]).unwrap();
    assert_eq!(hasher.finalize().unwrap().as_ref(), &vectors[0][1][..]);
}

/// libsodium's secretstream (tests/vectors/libsodium-secretstream-
/// xchacha20poly1305.txt) through orion's streaming AEAD, which seals file
/// chunks: the known ciphertext, opened back, and refused when altered.
#[test]
fn secretstream_xchacha20poly1305_libsodium_vector() {
    use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
    const STREAM: &str = include_str!("vectors/libsodium-secretstream-xchacha20poly1305.txt");
    let value = |name: &str| {
        let line = STREAM
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        hex::decode(line.split_whitespace().nth(1).unwrap()).unwrap()
    };
    let (key, header) = (value("key"), value("header"));
    let (message, ciphertext) = (value("message"), value("ciphertext"));
    let key = SecretKey::try_from(&key[..]).unwrap();
    let nonce = Nonce::try_from(&header[..]).unwrap();
    let mut sealed = vec![0u8; ciphertext.len()];
    StreamXChaCha20Poly1305::new(&key, &nonce)
        .seal_chunk(&message, None, &mut sealed, &StreamTag::Message)
        .unwrap();
    assert_eq!(sealed, ciphertext);
    let mut opened = vec![0u8; message.len()];
    let tag = StreamXChaCha20Poly1305::new(&key, &nonce)
        .open_chunk(&ciphertext, None, &mut opened)
        .unwrap();
    assert_eq!((tag, opened), (StreamTag::Message, message));
    for at in [0, 1, 40, ciphertext.len() - 1] {
        let mut altered = ciphertext.clone();
        altered[at] ^= 1;
        let mut out = vec![0u8; altered.len() - 17];
        assert!(StreamXChaCha20Poly1305::new(&key, &nonce)
            .open_chunk(&altered, None, &mut out)
            .is_err());
    }
}
