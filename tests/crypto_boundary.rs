//! Only `src/crypto/` calls orion (issue 13: "only `crypto/` calls
//! orion"), ed25519-dalek or the random generator (`rand`): every other
//! module reaches the primitives through it, so the constructions and
//! their known-answer tests stay in one place. (`subtle`'s constant-time
//! comparison is used where values are compared.)

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_crypto_module_names_orion_ed25519_dalek_or_rand() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crypto = root.join("src").join("crypto");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "the source tree was not found");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&crypto)) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let names_a_primitive = ["orion", "ed25519_dalek", "rand"].iter().any(|krate| {
                code.contains(&format!("{krate}::"))
                    || code.trim_start().starts_with(&format!("use {krate}"))
            });
            if names_a_primitive {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "orion, ed25519-dalek or rand outside src/crypto:\n{}",
        found.join("\n")
    );
}
