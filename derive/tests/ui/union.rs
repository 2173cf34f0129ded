use strongroom::Sensitive;

#[derive(Sensitive)]
union Bits {
    a: u32,
    b: f32,
}

fn main() {}
