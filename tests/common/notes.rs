//! Clients writing and reading one-field "note" records, for the suites
//! that only need some records of a type.

use strongroom::{Client, Fields, NewRecord, Plain, RecordId};

use super::TestDb;

/// The client with profile `name` in this test's folder, on a store of its
/// own (as a separate process would have).
pub fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

/// A record body with one sensitive field, `note`.
pub fn note(text: &str) -> Fields {
    Fields::new().with("note", text).unwrap()
}

/// `n` notes by `client`, in one transaction; their ids in input order.
pub fn notes(client: &Client, n: usize) -> Vec<RecordId> {
    let batch: Vec<NewRecord> = (0..n)
        .map(|i| NewRecord::new("note", note(&format!("n{i}")), Plain::new()))
        .collect();
    client
        .put_many(&batch)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// The `note` field of record `id`, as `client` reads it.
pub fn read(client: &Client, id: RecordId) -> strongroom::Result<String> {
    client.get(id).and_then(|r| r.field::<String>("note"))
}
