use strongroom::{Client, Sensitive};

#[derive(Sensitive)]
struct Patient {
    clinic: String,
    #[sensitive]
    name: String,
    #[sensitive(index)]
    ssn: String,
}

fn find(client: &Client) {
    // An indexed sensitive field has an `_eq` filter, beside plain filters.
    let _ = client
        .repo::<Patient>()
        .query()
        .filter(|p| p.ssn_eq("078-05-1120").clinic("north"));
    // A sensitive field has no plain filter, and without `index` no `_eq`.
    let _ = client.repo::<Patient>().query().filter(|p| p.name("Ada"));
    let _ = client.repo::<Patient>().query().filter(|p| p.name_eq("Ada"));
}

fn main() {}
