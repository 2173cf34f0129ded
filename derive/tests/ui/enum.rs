use strongroom::Sensitive;

#[derive(Sensitive)]
enum Status {
    Active,
    Closed,
}

fn main() {}
