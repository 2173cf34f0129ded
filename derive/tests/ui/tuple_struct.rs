use strongroom::Sensitive;

#[derive(Sensitive)]
struct Name(#[sensitive] String);

fn main() {}
