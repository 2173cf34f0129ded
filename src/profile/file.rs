//! The profile file's JSON shape, and turning it into a [`Profile`] and
//! back.

use super::*;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileFile {
    pub(super) strongroom_profile: u32,
    pub(super) client_id: ClientId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    pub(super) encryption_public_key: String,
    pub(super) signing_public_key: String,
    pub(super) secrets: SecretsFile,
    #[serde(default)]
    pub(super) pinned: BTreeMap<ClientId, PinnedFile>,
    #[serde(default, skip_serializing_if = "is_first_use")]
    pub(super) peer_trust: PeerTrust,
    /// The databases this client has written to (by their identity, never
    /// by URL) and, in each, the newest access key version it has used for
    /// each of its record types: a database that offers an older one is
    /// refused.
    #[serde(default)]
    pub(super) databases: BTreeMap<DatabaseId, DatabaseFile>,
    /// The client every record type of this one is also shared with and
    /// authorised to, for recovery ([`crate::Client::set_recovery_client`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) recovery_client: Option<ClientId>,
    /// The pinned peers whose keys the owner vouched for (checked against
    /// a fingerprint, [`crate::Client::pin_peer`], or given,
    /// [`Profile::pin`]): under `verified` trust, the only ones used.
    /// Written by every save (an empty list too); absent from a file an
    /// older build wrote, which did not tell pins apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) verified_pins: Option<BTreeSet<ClientId>>,
    /// Version 1 only: marks keyed by the URL or path a database was reached
    /// at. Read (the sealed AAD covers them) and dropped: they cannot be
    /// matched to a database identity.
    #[serde(default, skip_serializing)]
    pub(super) key_versions: Option<Marks>,
}

/// The oldest profile version this build still reads (and upgrades on its
/// next save).
pub(super) const OLDEST_READABLE_VERSION: u32 = 1;

pub(super) fn is_first_use(trust: &PeerTrust) -> bool {
    *trust == PeerTrust::FirstUse
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabaseFile {
    #[serde(default)]
    pub(super) key_versions: Marks,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum SecretsFile {
    Plain {
        encryption_key: String,
        signing_key: String,
    },
    Sealed {
        kdf: String,
        salt: String,
        iterations: u32,
        memory_kib: u32,
        sealed_keys: String,
    },
}

impl Drop for SecretsFile {
    fn drop(&mut self) {
        if let SecretsFile::Plain {
            encryption_key,
            signing_key,
        } = self
        {
            encryption_key.zeroize();
            signing_key.zeroize();
        }
    }
}

/// Reads only the version, so that a file of another version is reported as
/// such rather than as malformed.
#[derive(Deserialize)]
pub(super) struct VersionProbe {
    pub(super) strongroom_profile: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PinnedFile {
    pub(super) encryption_public_key: String,
    pub(super) signing_public_key: String,
}

impl Profile {
    pub(super) fn from_file(
        path: PathBuf,
        file: ProfileFile,
        unlock: Unlock<'_>,
    ) -> Result<Profile> {
        let public = PublicIdentity {
            client_id: file.client_id,
            encryption_key: EncryptionPublicKey::from_base64(&file.encryption_public_key)
                .map_err(|_| malformed(&path, "bad encryption public key"))?,
            signing_key: SigningPublicKey::from_base64(&file.signing_public_key)
                .map_err(|_| malformed(&path, "bad signing public key"))?,
        };
        let mut pinned = BTreeMap::new();
        for (client_id, pin) in &file.pinned {
            let peer = PublicIdentity {
                client_id: *client_id,
                encryption_key: EncryptionPublicKey::from_base64(&pin.encryption_public_key)
                    .map_err(|_| malformed(&path, "bad pinned public key"))?,
                signing_key: SigningPublicKey::from_base64(&pin.signing_public_key)
                    .map_err(|_| malformed(&path, "bad pinned public key"))?,
            };
            pinned.insert(*client_id, peer);
        }
        let databases: BTreeMap<DatabaseId, Marks> = file
            .databases
            .iter()
            .map(|(id, db)| (*id, db.key_versions.clone()))
            .collect();
        let (encryption, signing, sealing) = match &file.secrets {
            SecretsFile::Plain {
                encryption_key,
                signing_key,
            } => {
                if let Unlock::Passphrase(Some(_)) = unlock {
                    tracing::warn!(
                        path = %path.display(),
                        "a passphrase was given but this profile is not sealed: it was not used (Profile::set_passphrase or `strongroom profile passwd` seals it)"
                    );
                }
                let enc =
                    decode_key(encryption_key).ok_or_else(|| malformed(&path, "bad secret key"))?;
                let sign =
                    decode_key(signing_key).ok_or_else(|| malformed(&path, "bad secret key"))?;
                (
                    EncryptionSecretKey::from_bytes(enc),
                    SigningSecretKey::from_bytes(sign),
                    None,
                )
            }
            SecretsFile::Sealed {
                kdf,
                salt,
                iterations,
                memory_kib,
                sealed_keys,
            } => {
                if kdf != "argon2id" {
                    return Err(malformed(&path, "unknown passphrase KDF"));
                }
                if !(1..=MAX_ITERATIONS).contains(iterations)
                    || !(MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(memory_kib)
                {
                    return Err(malformed(&path, "passphrase KDF parameters out of range"));
                }
                let salt: [u8; SALT_LEN] =
                    b64::decode(salt)
                        .ok()
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| malformed(&path, "bad passphrase salt"))?;
                let sealed = b64::decode(sealed_keys)
                    .ok()
                    .filter(|s| s.len() == 2 * KEY_LEN + aead::OVERHEAD)
                    .ok_or_else(|| malformed(&path, "bad sealed keys"))?;
                let key = match unlock {
                    Unlock::Passphrase(passphrase) => {
                        let passphrase = passphrase.ok_or_else(|| {
                            Error::Profile(ProfileError::PassphraseRequired { path: path.clone() })
                        })?;
                        passphrase_key(passphrase, &salt, *iterations, *memory_kib)?
                    }
                    // Re-reading a file this process opened: the same salt
                    // and parameters give the same key.
                    Unlock::Known(known)
                        if known.salt == salt
                            && known.iterations == *iterations
                            && known.memory_kib == *memory_kib =>
                    {
                        PassphraseKey::from_bytes(*known.key.unprotected_as_bytes())
                    }
                    Unlock::Known(_) => {
                        return Err(Error::Profile(ProfileError::WrongPassphrase {
                            path: path.clone(),
                        }))
                    }
                };
                let sealing = Sealing {
                    key,
                    salt,
                    iterations: *iterations,
                    memory_kib: *memory_kib,
                };
                let tail = match &file.key_versions {
                    Some(v1_marks) => AadTail::Version1(v1_marks),
                    None => AadTail::Version2(
                        file.peer_trust,
                        &databases,
                        file.recovery_client,
                        file.verified_pins.as_ref(),
                    ),
                };
                let aad = sealed_aad(&file.name, &public, &pinned, tail, &sealing)?;
                let mut keys = Zeroizing::new([0u8; 2 * KEY_LEN]);
                aead::open_into(
                    sealing.key.unprotected_as_bytes(),
                    &aad,
                    &sealed,
                    &mut keys[..],
                )
                .map_err(|_| {
                    Error::Profile(ProfileError::WrongPassphrase { path: path.clone() })
                })?;
                let enc = EncryptionSecretKey::try_from_slice(&keys[..KEY_LEN])?;
                let sign = SigningSecretKey::try_from_slice(&keys[KEY_LEN..])?;
                (enc, sign, Some(sealing))
            }
        };
        let identity = Identity::from_secret_keys(public.client_id, encryption, signing)?;
        if identity.public() != &public {
            return Err(malformed(&path, "secret keys do not match the public keys"));
        }
        Ok(Profile {
            path,
            name: file.name.clone(),
            identity,
            peer_trust: file.peer_trust,
            databases,
            recovery_client: file.recovery_client,
            verified_pins: match &file.verified_pins {
                // Only pins can be verified ones.
                Some(verified) => verified
                    .iter()
                    .copied()
                    .filter(|id| pinned.contains_key(id))
                    .collect(),
                // A file from before pins were told apart: under verified
                // trust that build used every pin, and so does this one
                // (the next save lists them); under first-use trust none
                // counts as verified.
                None if file.peer_trust == PeerTrust::Verified => pinned.keys().copied().collect(),
                None => BTreeSet::new(),
            },
            pinned,
            sealing,
            stamp: None,
        })
    }

    pub(super) fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let public = self.identity.public();
        let secrets = match &self.sealing {
            None => SecretsFile::Plain {
                encryption_key: b64::encode(
                    self.identity.encryption_secret().unprotected_as_bytes(),
                ),
                signing_key: b64::encode(self.identity.signing_secret().unprotected_as_bytes()),
            },
            Some(sealing) => {
                let aad = sealed_aad(
                    &self.name,
                    public,
                    &self.pinned,
                    AadTail::Version2(
                        self.peer_trust,
                        &self.databases,
                        self.recovery_client,
                        Some(&self.verified_pins),
                    ),
                    sealing,
                )?;
                let mut keys = Zeroizing::new([0u8; 2 * KEY_LEN]);
                keys[..KEY_LEN]
                    .copy_from_slice(self.identity.encryption_secret().unprotected_as_bytes());
                keys[KEY_LEN..]
                    .copy_from_slice(self.identity.signing_secret().unprotected_as_bytes());
                let mut sealed = Vec::with_capacity(keys.len() + aead::OVERHEAD);
                aead::seal_into(
                    sealing.key.unprotected_as_bytes(),
                    &aad,
                    &keys[..],
                    &mut sealed,
                )?;
                SecretsFile::Sealed {
                    kdf: "argon2id".to_owned(),
                    salt: b64::encode(&sealing.salt),
                    iterations: sealing.iterations,
                    memory_kib: sealing.memory_kib,
                    sealed_keys: b64::encode(&sealed),
                }
            }
        };
        let file = ProfileFile {
            strongroom_profile: PROFILE_VERSION,
            client_id: public.client_id,
            name: self.name.clone(),
            encryption_public_key: public.encryption_key.to_base64(),
            signing_public_key: public.signing_key.to_base64(),
            secrets,
            pinned: self
                .pinned
                .iter()
                .map(|(id, peer)| {
                    (
                        *id,
                        PinnedFile {
                            encryption_public_key: peer.encryption_key.to_base64(),
                            signing_public_key: peer.signing_key.to_base64(),
                        },
                    )
                })
                .collect(),
            key_versions: None,
            recovery_client: self.recovery_client,
            verified_pins: Some(self.verified_pins.clone()),
            peer_trust: self.peer_trust,
            databases: self
                .databases
                .iter()
                .map(|(id, marks)| {
                    (
                        *id,
                        DatabaseFile {
                            key_versions: marks.clone(),
                        },
                    )
                })
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|_| Error::Serialization)?;
        json.push(b'\n');
        Ok(Zeroizing::new(json))
    }
}

pub(super) fn decode_key(text: &str) -> Option<[u8; KEY_LEN]> {
    let mut bytes = b64::decode(text).ok()?;
    let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice()).ok();
    bytes.zeroize();
    key
}

pub(super) fn malformed(path: &Path, reason: &'static str) -> Error {
    Error::Profile(ProfileError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}
