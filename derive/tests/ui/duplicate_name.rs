use strongroom::Sensitive;

#[derive(Sensitive)]
struct Patient {
    #[sensitive]
    name: String,
    #[sensitive(rename = "name")]
    nickname: String,
}

fn main() {}
