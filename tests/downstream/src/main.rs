//! Builds as a web backend would use strongroom: a derived model, a store
//! opened once, and a handler that writes through the repository on
//! tokio's blocking pool.

use std::sync::Arc;

use axum::{extract::State, routing::post, Json, Router};
use serde::{Deserialize, Serialize};
use strongroom::{Client, Sensitive, Store};

#[derive(Serialize, Deserialize, Sensitive)]
#[sensitive(record_type = "patient")]
struct Patient {
    clinic: String,
    #[sensitive]
    name: String,
}

async fn create(State(client): State<Arc<Client>>, Json(patient): Json<Patient>) -> String {
    tokio::task::spawn_blocking(move || {
        client
            .repo::<Patient>()
            .insert(patient)
            .map(|stored| stored.id().to_string())
            .unwrap_or_else(|err| err.to_string())
    })
    .await
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("strongroom-downstream-check");
    std::fs::create_dir_all(&dir)?;
    let store = Store::open_or_create(&format!("sqlite://{}", dir.join("sensitive.db").display()))?;
    let client = Arc::new(Client::open_or_create(dir.join("backend.profile"), &store)?);
    let app: Router = Router::new().route("/patients", post(create)).with_state(client);
    let _ = app;
    Ok(())
}
