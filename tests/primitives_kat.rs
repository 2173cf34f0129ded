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

/// The stream as files use it: two chunks with additional data, the last
/// one tagged FINAL (each chunk moves the stream's key on). Generated with
/// libsodium's `crypto_secretstream_xchacha20poly1305` (PyNaCl 1.6.2) with
/// the key of the vector above, this header and additional data
/// `strongroom chunk ad`: orion seals the same bytes and opens them back;
/// the chunks swapped, or the additional data changed, are refused.
#[test]
fn secretstream_two_chunks_with_additional_data_and_final_libsodium_vector() {
    use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
    let key =
        SecretKey::try_from(
            &hex::decode("3132333435363738396162636465666768696a6b6c6d6f6e7071727374757600")
                .unwrap()[..],
        )
        .unwrap();
    let nonce = Nonce::try_from(
        &hex::decode("92ca954b77f4b6e6e88bf62cace634ee731b594254780d72").unwrap()[..],
    )
    .unwrap();
    let ad: &[u8] = b"strongroom chunk ad";
    let first = hex::decode("3a40493faa8dd6021096794972543259fae39a82e322a53086").unwrap();
    let last = hex::decode("739be0d23a644ab8d802660b89feb6d328c7b1").unwrap();
    let mut sealer = StreamXChaCha20Poly1305::new(&key, &nonce);
    let mut sealed = [vec![0u8; first.len()], vec![0u8; last.len()]];
    sealer
        .seal_chunk(b"abcdefgh", Some(ad), &mut sealed[0], &StreamTag::Message)
        .unwrap();
    sealer
        .seal_chunk(b"ij", Some(ad), &mut sealed[1], &StreamTag::Finish)
        .unwrap();
    assert_eq!(sealed, [first.clone(), last.clone()]);
    let mut opener = StreamXChaCha20Poly1305::new(&key, &nonce);
    let (mut one, mut two) = ([0u8; 8], [0u8; 2]);
    assert_eq!(
        opener.open_chunk(&first, Some(ad), &mut one).unwrap(),
        StreamTag::Message
    );
    assert_eq!(
        opener.open_chunk(&last, Some(ad), &mut two).unwrap(),
        StreamTag::Finish
    );
    assert_eq!((&one, &two), (b"abcdefgh", b"ij"));
    let mut out = [0u8; 8];
    assert!(StreamXChaCha20Poly1305::new(&key, &nonce)
        .open_chunk(&last, Some(ad), &mut out[..2])
        .is_err());
    assert!(StreamXChaCha20Poly1305::new(&key, &nonce)
        .open_chunk(&first, Some(b"other"), &mut out)
        .is_err());
}

/// XChaCha20-Poly1305 with AAD, the AEAD of every field envelope, data-key
/// seal and sealed profile: draft-irtf-cfrg-xchacha-03, appendix A.3.1,
/// through orion's `hazardous::aead::xchacha20poly1305` (what
/// `src/crypto/aead.rs` calls), sealing and opening; a flipped byte of
/// the ciphertext, the tag or the AAD does not open.
#[test]
fn xchacha20_poly1305_draft_irtf_cfrg_xchacha_a_3_1() {
    use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let key =
        SecretKey::try_from(
            &hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .unwrap()[..],
        )
        .unwrap();
    let nonce = Nonce::try_from(
        &hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657").unwrap()[..],
    )
    .unwrap();
    let expected = hex::decode(concat!(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb",
        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452",
        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9",
        "21f9664c97637da9768812f615c68b13b52e",
        "c0875924c1c7987947deafd8780acf49",
    ))
    .unwrap();
    let mut sealed = vec![0u8; plaintext.len() + 16];
    XChaCha20Poly1305::seal(&key, &nonce, plaintext, Some(&aad), &mut sealed).unwrap();
    assert_eq!(hex::encode(&sealed), hex::encode(&expected));
    let mut opened = vec![0u8; plaintext.len()];
    XChaCha20Poly1305::open(&key, &nonce, &sealed, Some(&aad), &mut opened).unwrap();
    assert_eq!(&opened[..], &plaintext[..]);
    for at in [0, 57, sealed.len() - 1] {
        let mut tampered = sealed.clone();
        tampered[at] ^= 1;
        assert!(XChaCha20Poly1305::open(&key, &nonce, &tampered, Some(&aad), &mut opened).is_err());
    }
    let mut other_aad = aad.clone();
    other_aad[0] ^= 1;
    assert!(XChaCha20Poly1305::open(&key, &nonce, &sealed, Some(&other_aad), &mut opened).is_err());
    assert!(XChaCha20Poly1305::open(&key, &nonce, &sealed, None, &mut opened).is_err());
}

/// Argon2id, which derives the key that seals a profile: RFC 9106, section
/// 5.3 (version 0x13, 32 KiB, 3 passes, 4 lanes, with secret and
/// associated data), through orion's `hazardous::kdf::argon2` (the code
/// under `orion::kdf`, which `src/crypto/kdf.rs` calls with one lane and
/// neither).
#[test]
fn argon2id_rfc9106_section_5_3() {
    use orion::hazardous::kdf::argon2::{Argon2, CostParams, Sequential, ID};
    let cost = CostParams::new(3, 32, 4).unwrap();
    let mut tag = [0u8; 32];
    Argon2::<ID, Sequential>::derive_key(
        &[0x01; 32],
        &[0x02; 16],
        &cost,
        Some(&[0x03; 8]),
        Some(&[0x04; 12]),
        &mut tag,
    )
    .unwrap();
    assert_eq!(
        hex::encode(tag),
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    );
}
