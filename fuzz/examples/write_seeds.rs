//! Writes the seed corpus: `fuzz/corpus/<target>/seed-<n>`, real encodings
//! made with the fixed keys of `strongroom::__fuzz` (and, for `cli_values`,
//! a few command lines). Run from `fuzz/`:
//! `cargo +nightly run --example write_seeds`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    use strongroom::__fuzz::seeds;
    // First byte: --max-field-size 4096; then -p lines, NUL, -f lines,
    // NUL, the --json text, NUL, stdin.
    let cli: Vec<Vec<u8>> = vec![
        b"\x03clinic=north\nward=7\0name=Ada\nnotes=@x\nbio=-\nhandle=@@ada\0{\"name\":\"Ada\",\"visits\":[1843,1852]}\0from stdin".to_vec(),
        b"\x04\0a=\0{}\0".to_vec(),
        b"\x00=\0=x\0[1]\0".to_vec(),
    ];
    let targets = [
        ("envelope", seeds::envelope()),
        ("record_encoding", seeds::record_encoding()),
        ("wrapped_key", seeds::wrapped_key()),
        ("grant", seeds::grant()),
        ("profile", seeds::profile()),
        ("cli_values", cli),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in targets {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (n, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{n}")), seed)?;
        }
        println!("{target}: {} seeds", seeds.len());
    }
    Ok(())
}
