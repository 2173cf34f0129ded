//! Quickstart: a client profile, one record sealed and signed, then verified
//! and opened again. (The sensitive database joins with the store.)
//!
//! Run: `cargo run --example quickstart`

use std::collections::BTreeMap;

use anyhow::Context;
use strongroom::signature::RecordHeader;
use strongroom::{record, AccessKey, Profile, ProfileOptions, RecordId};

fn main() -> anyhow::Result<()> {
    let path = "quickstart.profile";
    let profile = match Profile::load(path, None) {
        Ok(profile) => profile,
        Err(strongroom::Error::ProfileIo { .. }) => {
            Profile::create(path, ProfileOptions::named("quickstart"))?
        }
        Err(other) => return Err(other).context("loading quickstart.profile"),
    };
    let me = profile.identity();
    println!("client {} (profile {path})", me.client_id());

    let access_key = AccessKey::generate();
    let values = BTreeMap::from([
        ("name".to_owned(), b"Ada Lovelace".to_vec()),
        ("national_id".to_owned(), b"1815-12-10-0001".to_vec()),
    ]);
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    let header = RecordHeader {
        record_id: RecordId::random(),
        version: 1,
        record_type: "patient",
        writer_id: me.client_id(),
        key_version: 1,
    };
    let sealed = record::seal_record(me.signer(), &access_key, header, plain, &values)?;

    println!("stored form of field `name`: {}", sealed.fields["name"]);
    println!("signature: {}", sealed.signature);
    let opened = record::open_record(&sealed, &me.public().signing_key, &access_key)?;
    println!(
        "verified and decrypted `name`: {}",
        String::from_utf8_lossy(&opened["name"])
    );
    Ok(())
}
