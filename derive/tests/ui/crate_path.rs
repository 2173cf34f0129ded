use strongroom::Sensitive;

#[derive(Sensitive)]
#[sensitive(crate = "not a path")]
struct Patient {
    #[sensitive]
    name: String,
}

fn main() {}
