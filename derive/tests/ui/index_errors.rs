use strongroom::Sensitive;

#[derive(Sensitive)]
#[sensitive(index(name = "by_clinic_x", fields = ["clinic", "missing"]))]
#[sensitive(index(fields = ["name"]))]
#[sensitive(index(name = "by-dash", fields = ["email"]))]
struct Patient {
    clinic: String,
    #[sensitive(index(bits = 0))]
    name: String,
    #[sensitive(index(normalize = "upper"))]
    email: String,
    #[sensitive(index(name = "name"))]
    other: String,
}

fn main() {}
