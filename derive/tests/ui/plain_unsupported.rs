use strongroom::Sensitive;

#[derive(Sensitive)]
struct Patient {
    tags: Vec<String>,
    #[sensitive]
    name: String,
}

fn main() {}
