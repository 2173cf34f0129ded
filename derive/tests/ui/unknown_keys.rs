use strongroom::Sensitive;

#[derive(Sensitive)]
#[sensitive(recordtype = "patient")]
struct Patient {
    #[sensitive(renam = "n")]
    name: String,
}

fn main() {}
