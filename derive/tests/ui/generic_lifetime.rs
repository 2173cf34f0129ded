use strongroom::Sensitive;

#[derive(Sensitive)]
struct Note<'a> {
    clinic: String,
    #[sensitive]
    body: &'a str,
}

fn main() {}
