use strongroom::{Client, Sensitive};

#[derive(Sensitive)]
struct Patient {
    clinic: String,
    #[sensitive]
    name: String,
}

fn find(client: &Client) {
    let _ = client.repo::<Patient>().query().filter(|p| p.name("Ada"));
}

fn main() {}
