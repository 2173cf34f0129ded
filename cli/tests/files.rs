//! `strongroom file put|get|ls` run as real processes, on SQLite and on
//! PostgreSQL: bodies of every interesting size back byte for byte, to a
//! path and to stdout; the id alone on the last line; listing; a tampered
//! or truncated body leaving no file (and no temporary file) behind; a
//! record that is not a file; an existing `--out`; a shared reader.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{each_backend, unhex, xorshift64, TestDb};
use support::{bin, fails, json_lines, last_line, ok, run};

/// The default chunk size of a file body (FORMAT.md, "Files").
const CHUNK: usize = 64 * 1024;

/// `len` bytes that differ from chunk to chunk and within each (a
/// xorshift stream), so a swapped or shifted chunk could not go unseen.
fn body(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    (0..len).map(|_| xorshift64(&mut state) as u8).collect()
}

/// A file of `bytes` in the test's folder.
fn source(db: &TestDb, name: &str, bytes: &[u8]) -> PathBuf {
    let path = db.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `file put PATH --type TYPE [args]`: checks that stdout is the id alone
/// and returns it.
fn put(db: &TestDb, profile: &str, path: &Path, record_type: &str, args: &[&str]) -> String {
    let path = path.to_str().unwrap();
    let mut all = vec!["file", "put", path, "--type", record_type];
    all.extend_from_slice(args);
    let out = ok(db, profile, &all);
    let id = last_line(&out);
    assert_eq!(out, format!("{id}\n"), "the id alone on stdout");
    assert!(id.parse::<strongroom::RecordId>().is_ok(), "{out}");
    id
}

/// `file get ID --out -`, run to its end: the process's output, bytes and all.
fn get_stdout(db: &TestDb, profile: &str, id: &str) -> Output {
    run(db, profile, &["file", "get", id, "--out", "-"])
}

/// Runs with `input` on stdin.
fn with_stdin(db: &TestDb, profile: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile(profile))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strongroom");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Fed from a thread: the child may write while it reads.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A folder of its own for `file get` to write into, so what it leaves
/// there can be listed.
fn out_dir(db: &TestDb, name: &str) -> PathBuf {
    let dir = db.dir.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn put_then_get_gives_back_every_size_byte_for_byte() {
    each_backend("put_then_get_gives_back_every_size_byte_for_byte", |db| {
        ok(db, "alice", &["init"]);
        let out = out_dir(db, "out");
        for len in [0, 1, CHUNK, CHUNK + 1, 3 * 1024 * 1024 + 7] {
            let bytes = body(len);
            let path = source(db, &format!("in-{len}"), &bytes);
            let id = put(db, "alice", &path, "scan", &["-p", &format!("len={len}")]);

            let target = out.join(format!("back-{len}"));
            let got = run(
                db,
                "alice",
                &["file", "get", &id, "--out", target.to_str().unwrap()],
            );
            assert!(got.status.success(), "{len}: {got:?}");
            assert!(got.stdout.is_empty(), "nothing on stdout with --out PATH");
            assert!(got.stderr.is_empty(), "no bar off a terminal: {got:?}");
            assert!(
                std::fs::read(&target).unwrap() == bytes,
                "{len} B to a file"
            );
            #[cfg(unix)]
            assert_eq!(mode(&target), 0o600, "owner only");

            let piped = get_stdout(db, "alice", &id);
            assert!(piped.status.success(), "{len}: {piped:?}");
            assert!(piped.stdout == bytes, "{len} B to stdout");
        }
        let expected: Vec<String> = [0, 1, CHUNK, CHUNK + 1, 3 * 1024 * 1024 + 7]
            .iter()
            .map(|len| format!("back-{len}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names_in(&out), expected, "no temporary file left behind");
    });
}

/// `file get ID --out - | head -c 10`: a reader of standard output that
/// goes away after a prefix ends the command quietly with status 0, as
/// `ls | head` does (review R).
#[test]
fn a_reader_of_standard_output_that_goes_away_ends_get_quietly() {
    use std::io::Read;
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let bytes = body(3 * 1024 * 1024);
    let id = put(&db, "alice", &source(&db, "in", &bytes), "scan", &[]);
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("alice"))
        .args(["file", "get", &id, "--out", "-"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut prefix = [0u8; 10];
    child
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut prefix)
        .unwrap();
    // The pipe's reading end is closed here, as `head` closes it.
    let out = child.wait_with_output().unwrap();
    assert_eq!(prefix, bytes[..10]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn put_reads_stdin_and_large_bodies_draw_no_bar_off_a_terminal() {
    each_backend(
        "put_reads_stdin_and_large_bodies_draw_no_bar_off_a_terminal",
        |db| {
            ok(db, "alice", &["init"]);
            // Past the 4 MiB a bar starts at, with no length known.
            let bytes = body(4 * 1024 * 1024 + CHUNK + 3);
            let out = with_stdin(
                db,
                "alice",
                &["file", "put", "-", "--type", "backup", "-p", "day=monday"],
                &bytes,
            );
            assert!(out.status.success(), "{out:?}");
            assert!(out.stderr.is_empty(), "no bar off a terminal: {out:?}");
            let stdout = String::from_utf8(out.stdout).unwrap();
            let id = last_line(&stdout);
            assert_eq!(stdout, format!("{id}\n"));

            let piped = get_stdout(db, "alice", &id);
            assert!(piped.status.success(), "{piped:?}");
            assert!(piped.stderr.is_empty(), "no bar off a terminal: {piped:?}");
            assert!(piped.stdout == bytes);
            let listed = json_lines(&ok(db, "alice", &["file", "ls", "--type", "backup"]));
            assert_eq!(listed[0]["meta"]["file_size"], bytes.len() as u64);
            assert_eq!(listed[0]["meta"]["plain"]["day"], "monday");
        },
    );
}

#[test]
fn file_ls_lists_files_with_their_sizes_and_no_other_records() {
    each_backend(
        "file_ls_lists_files_with_their_sizes_and_no_other_records",
        |db| {
            ok(db, "alice", &["init"]);
            let small = put(
                db,
                "alice",
                &source(db, "a", b"abc"),
                "scan",
                &["-p", "ward=a"],
            );
            let empty = put(
                db,
                "alice",
                &source(db, "b", b""),
                "scan",
                &["-p", "ward=b"],
            );
            let record = last_line(&ok(
                db,
                "alice",
                &["write", "scan", "-f", "note=not a file"],
            ));
            put(db, "alice", &source(db, "c", b"other type"), "photo", &[]);

            let listed = json_lines(&ok(db, "alice", &["file", "ls", "--type", "scan"]));
            let sizes: Vec<(String, u64)> = listed
                .iter()
                .map(|l| {
                    let meta = &l["meta"];
                    assert_eq!(meta["record_type"], "scan");
                    assert!(l.get("data").is_none(), "meta only");
                    (
                        meta["id"].as_str().unwrap().to_owned(),
                        meta["file_size"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(sizes, [(small.clone(), 3), (empty.clone(), 0)]);
            assert_eq!(listed[0]["meta"]["plain"]["ward"], "a");

            // `ls` shows all three, the files with their size.
            let all = json_lines(&ok(db, "alice", &["ls", "--type", "scan"]));
            assert_eq!(all.len(), 3);
            let plain = all
                .iter()
                .find(|l| l["meta"]["id"] == record.as_str())
                .unwrap();
            assert!(plain["meta"].get("file_size").is_none(), "{plain}");

            // Plain filters and paging, as `ls` has them.
            let ward_b = json_lines(&ok(
                db,
                "alice",
                &["file", "ls", "--type", "scan", "-p", "ward=b"],
            ));
            assert_eq!(ward_b.len(), 1);
            assert_eq!(ward_b[0]["meta"]["id"], empty.as_str());
            let first = run(
                db,
                "alice",
                &["file", "ls", "--type", "scan", "--limit", "1"],
            );
            assert!(first.status.success());
            let first_lines = json_lines(&String::from_utf8(first.stdout).unwrap());
            assert_eq!(first_lines.len(), 1);
            assert_eq!(first_lines[0]["meta"]["id"], small.as_str());
            let stderr = String::from_utf8(first.stderr).unwrap();
            let cursor = stderr
                .lines()
                .find_map(|l| l.strip_prefix("more: --after "))
                .unwrap_or_else(|| panic!("{stderr}"));
            let rest = json_lines(&ok(
                db,
                "alice",
                &["file", "ls", "--type", "scan", "--after", cursor],
            ));
            assert_eq!(rest.len(), 1);
            assert_eq!(rest[0]["meta"]["id"], empty.as_str());

            assert!(ok(db, "alice", &["file", "ls", "--type", "none"]).is_empty());
            fails(db, "alice", &["file", "ls"], 2);
            fails(
                db,
                "alice",
                &["file", "ls", "--type", "scan", "--limit", "0"],
                2,
            );
        },
    );
}

/// README: `file ls` without `--limit` lists every file, where `ls` stops
/// at 100 and says how to go on.
#[test]
fn file_ls_without_a_limit_lists_every_file() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let alice = strongroom::Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
    for n in 0..101u8 {
        alice
            .put_file("scan", &strongroom::Plain::new(), &[n][..])
            .unwrap();
    }
    drop(alice);
    let out = run(&db, "alice", &["file", "ls", "--type", "scan"]);
    assert!(out.status.success(), "{out:?}");
    let listed = json_lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(listed.len(), 101);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("more:"));
    // `ls` of the same records stops at 100 and names the cursor.
    let out = run(&db, "alice", &["ls", "--type", "scan"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        json_lines(&String::from_utf8(out.stdout).unwrap()).len(),
        100
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("more: --after "));
}

/// The sealed chunk `seq` of every file body, as stored.
fn chunk(db: &TestDb, seq: u32) -> Vec<u8> {
    let hex = db.hex("chunk");
    let rows = db.texts(&format!(
        "SELECT {hex} AS t FROM file_chunks WHERE seq = {seq}"
    ));
    assert_eq!(rows.len(), 1, "one file");
    unhex(&rows[0])
}

#[test]
fn a_tampered_or_truncated_body_leaves_no_file_at_out() {
    each_backend("a_tampered_or_truncated_body_leaves_no_file_at_out", |db| {
        ok(db, "alice", &["init"]);
        // Three chunks: two whole ones and a short last one.
        let bytes = body(2 * CHUNK + 100);
        let id = put(db, "alice", &source(db, "in", &bytes), "scan", &[]);
        let out = out_dir(db, "out");
        let target = out.join("scan.bin");
        let target_arg = target.to_str().unwrap().to_owned();

        let mut flipped = chunk(db, 1);
        flipped[40] ^= 1;
        let original = chunk(db, 1);
        db.sql(&format!(
            "UPDATE file_chunks SET chunk = {} WHERE seq = 1",
            db.blob(&flipped)
        ));
        let err = fails(db, "alice", &["file", "get", &id, "--out", &target_arg], 1);
        assert!(err.contains("decryption failed"), "{err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert!(
            names_in(&out).is_empty(),
            "no file, no temporary file: {:?}",
            names_in(&out)
        );

        // An existing file is left as it was, even with --force.
        std::fs::write(&target, b"keep me").unwrap();
        fails(
            db,
            "alice",
            &["file", "get", &id, "--out", &target_arg, "--force"],
            1,
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        assert_eq!(names_in(&out), ["scan.bin"]);
        std::fs::remove_file(&target).unwrap();

        // To stdout: a prefix at most (the first chunk), and a failure.
        let piped = get_stdout(db, "alice", &id);
        assert_eq!(piped.status.code(), Some(1), "{piped:?}");
        assert!(piped.stdout.len() <= CHUNK, "{}", piped.stdout.len());
        assert!(piped.stdout == bytes[..piped.stdout.len()], "only a prefix");

        // Truncated: the last chunk gone. Its bytes never appear.
        db.sql(&format!(
            "UPDATE file_chunks SET chunk = {} WHERE seq = 1",
            db.blob(&original)
        ));
        assert!(get_stdout(db, "alice", &id).stdout == bytes, "restored");
        db.sql("DELETE FROM file_chunks WHERE seq = 2");
        fails(db, "alice", &["file", "get", &id, "--out", &target_arg], 1);
        assert!(names_in(&out).is_empty(), "{:?}", names_in(&out));
        let piped = get_stdout(db, "alice", &id);
        assert_eq!(piped.status.code(), Some(1), "{piped:?}");
        assert!(piped.stdout.len() <= 2 * CHUNK);
        assert!(piped.stdout == bytes[..piped.stdout.len()]);
    });
}

#[test]
fn get_of_a_record_that_is_not_a_file_or_not_there_fails_clearly() {
    each_backend(
        "get_of_a_record_that_is_not_a_file_or_not_there_fails_clearly",
        |db| {
            ok(db, "alice", &["init"]);
            let record = last_line(&ok(db, "alice", &["write", "scan", "-f", "note=hi"]));
            let out = out_dir(db, "out");
            let target = out.join("x");
            let target = target.to_str().unwrap();
            let err = fails(db, "alice", &["file", "get", &record, "--out", target], 1);
            assert!(
                err.contains("is not a file") && err.contains("strongroom read"),
                "{err}"
            );
            let err = fails(db, "alice", &["file", "get", &record, "--out", "-"], 1);
            assert!(err.contains("is not a file"), "{err}");

            let missing = "0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c";
            let err = fails(db, "alice", &["file", "get", missing, "--out", target], 1);
            assert!(err.contains("not found"), "{err}");
            fails(
                db,
                "alice",
                &["file", "get", "not-an-id", "--out", target],
                2,
            );
            fails(db, "alice", &["file", "get", &record], 2);
            assert!(names_in(&out).is_empty());

            // A deleted file is gone, body and all.
            let id = put(
                db,
                "alice",
                &source(db, "in", &body(CHUNK * 2)),
                "scan",
                &[],
            );
            // `update` does not change a file record, and says what does.
            let err = fails(
                db,
                "alice",
                &["update", &id, "--version", "1", "-f", "note=x"],
                1,
            );
            assert!(
                err.contains("is a file record") && err.contains("strongroom file put"),
                "{err}"
            );
            ok(db, "alice", &["delete", &id, "--version", "1"]);
            fails(db, "alice", &["file", "get", &id, "--out", target], 1);
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 0);
        },
    );
}

#[test]
fn get_refuses_an_existing_out_unless_forced() {
    each_backend("get_refuses_an_existing_out_unless_forced", |db| {
        ok(db, "alice", &["init"]);
        let bytes = body(CHUNK + 5);
        let id = put(db, "alice", &source(db, "in", &bytes), "scan", &[]);
        let out = out_dir(db, "out");
        let target = out.join("scan.bin");
        let target_arg = target.to_str().unwrap();
        std::fs::write(&target, b"already here").unwrap();

        let err = fails(db, "alice", &["file", "get", &id, "--out", target_arg], 1);
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"already here");

        ok(
            db,
            "alice",
            &["file", "get", &id, "--out", target_arg, "--force"],
        );
        assert!(std::fs::read(&target).unwrap() == bytes);
        assert_eq!(names_in(&out), ["scan.bin"]);

        // Never a directory, forced or not.
        let err = fails(
            db,
            "alice",
            &[
                "file",
                "get",
                &id,
                "--out",
                out.to_str().unwrap(),
                "--force",
            ],
            1,
        );
        assert!(err.contains("is a directory"), "{err}");
        // A path ending in `/` names a folder, existing or not: refused
        // before anything is decrypted, nothing created.
        let folder = format!("{}/", db.dir.path().join("not-yet").display());
        let err = fails(db, "alice", &["file", "get", &id, "--out", &folder], 1);
        assert!(err.contains("names a folder"), "{err}");
        assert!(!db.dir.path().join("not-yet").exists());
    });
}

#[test]
fn put_fails_cleanly_and_stores_nothing() {
    each_backend("put_fails_cleanly_and_stores_nothing", |db| {
        ok(db, "alice", &["init"]);
        let missing = db.dir.path().join("missing.pdf");
        let err = fails(
            db,
            "alice",
            &["file", "put", missing.to_str().unwrap(), "--type", "scan"],
            1,
        );
        assert!(err.contains("missing.pdf"), "{err}");
        let err = fails(
            db,
            "alice",
            &[
                "file",
                "put",
                db.dir.path().to_str().unwrap(),
                "--type",
                "scan",
            ],
            1,
        );
        assert!(err.contains("is a directory"), "{err}");
        let path = source(db, "in", b"body");
        let path = path.to_str().unwrap();
        fails(db, "alice", &["file", "put", path], 2);
        fails(db, "alice", &["file", "put", path, "--type", " "], 2);
        fails(
            db,
            "alice",
            &["file", "put", path, "--type", "scan", "-p", "novalue"],
            2,
        );
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 0);
    });
}

#[test]
fn a_reader_shared_the_type_gets_the_file() {
    each_backend("a_reader_shared_the_type_gets_the_file", |db| {
        ok(db, "alice", &["init"]);
        let bob = last_line(&ok(db, "bob", &["init"]));
        let bytes = body(3 * CHUNK + 1);
        let id = put(
            db,
            "alice",
            &source(db, "in", &bytes),
            "scan",
            &["-p", "ward=a"],
        );
        let out = out_dir(db, "out");
        let target = out.join("bob.bin");
        let target_arg = target.to_str().unwrap();

        fails(db, "bob", &["file", "get", &id, "--out", target_arg], 1);
        assert!(names_in(&out).is_empty());

        ok(db, "alice", &["share", "scan", "--with", &bob]);
        ok(db, "bob", &["file", "get", &id, "--out", target_arg]);
        assert!(std::fs::read(&target).unwrap() == bytes);
        let listed = json_lines(&ok(
            db,
            "bob",
            &["file", "ls", "--type", "scan", "--all-writers"],
        ));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["meta"]["id"], id.as_str());
        assert_eq!(listed[0]["meta"]["file_size"], bytes.len() as u64);
        assert!(
            ok(db, "bob", &["file", "ls", "--type", "scan"]).is_empty(),
            "without --all-writers, bob's own files only"
        );
    });
}

/// Runs `args` on a pseudo-terminal (util-linux `script`) with stdout sent
/// to `stdout_to`; returns the exit code and what the terminal showed (the
/// stderr). `None` when `script` is not installed (loudly; a failure in CI).
fn on_terminal(db: &TestDb, args: &[&str], stdout_to: &Path) -> Option<(i32, String)> {
    let found = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        let message = "util-linux `script` is not installed: the progress bar test cannot run";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("SKIPPED (loudly): {message}");
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = format!(
        "{} --db {} --profile {}",
        quote(&bin()),
        quote(&db.url),
        quote(db.profile("alice").to_str().unwrap())
    );
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line.push_str(&format!(" > {}", quote(stdout_to.to_str().unwrap())));
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    // Standard input stays open (and empty) until the command is done.
    let stdin = child.stdin.take();
    let mut shown = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut shown).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    Some((
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&shown).into_owned(),
    ))
}

#[test]
fn large_bodies_show_a_bar_on_a_terminal_and_stdout_stays_clean() {
    let db = TestDb::sqlite();
    ok(&db, "alice", &["init"]);
    let bytes = body(4 * 1024 * 1024 + 1);
    let path = source(&db, "big", &bytes);
    let id_file = db.dir.path().join("id.txt");
    let Some((code, shown)) = on_terminal(
        &db,
        &["file", "put", path.to_str().unwrap(), "--type", "scan"],
        &id_file,
    ) else {
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("encrypting"),
        "a bar on the terminal: {shown:?}"
    );
    let stdout = std::fs::read_to_string(&id_file).unwrap();
    let id = last_line(&stdout);
    assert_eq!(stdout, format!("{id}\n"), "only the id on stdout");

    let back = db.dir.path().join("back");
    let (code, shown) = on_terminal(
        &db,
        &["file", "get", &id, "--out", back.to_str().unwrap()],
        &db.dir.path().join("get-stdout.txt"),
    )
    .unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("decrypting"),
        "a bar on the terminal: {shown:?}"
    );
    assert!(std::fs::read(&back).unwrap() == bytes);
    assert_eq!(
        std::fs::read(db.dir.path().join("get-stdout.txt")).unwrap(),
        b""
    );

    // A small body draws nothing.
    let small = source(&db, "small", &body(CHUNK));
    let (code, shown) = on_terminal(
        &db,
        &["file", "put", small.to_str().unwrap(), "--type", "scan"],
        &id_file,
    )
    .unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("encrypting"), "{shown:?}");
}
