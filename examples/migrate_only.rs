//! Opens a store, which applies the embedded migrations, and prints their
//! status. Used by `scripts/check-migrations-with-diesel-cli.sh`.
//!
//! Run: `cargo run --example migrate_only -- sqlite://PATH|postgres://…`

fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://strongroom.db".to_owned());
    let store = strongroom::Store::open_or_create(&url)?;
    let status = store.migration_status()?;
    println!(
        "{}: applied {:?}, pending {:?}",
        store.redacted_url(),
        status.applied,
        status.pending
    );
    Ok(())
}
