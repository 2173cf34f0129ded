//! Searching sealed fields from the command line (issue 17): `write
//! --index`, `ls --where`, `reindex` and `leakage`, run as real processes
//! on SQLite and on PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use common::{each_backend, TestDb};
use serde_json::Value;
use support::{fails, json_lines, last_line, ok, run};

const TYPE: &str = "patient";

/// `strongroom write patient ARGS…`; checks the id line (the whole of
/// stdout) and returns the id.
fn write(db: &TestDb, profile: &str, args: &[&str]) -> String {
    let out = ok(db, profile, &[&["write", TYPE][..], args].concat());
    assert_eq!(out.lines().count(), 1, "write prints its id alone: {out}");
    let id = last_line(&out);
    assert!(id.parse::<strongroom::RecordId>().is_ok(), "{out}");
    id
}

/// Runs an `ls` (or any command) that must succeed; returns its JSON lines
/// and its stderr.
fn lines_and_stderr(db: &TestDb, profile: &str, args: &[&str]) -> (Vec<Value>, String) {
    let out = run(db, profile, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "strongroom {args:?}: {stderr}");
    (json_lines(&String::from_utf8(out.stdout).unwrap()), stderr)
}

/// The ids `ls --type patient --where …` prints, sorted.
fn found(db: &TestDb, profile: &str, args: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> =
        lines_and_stderr(db, profile, &[&["ls", "--type", TYPE][..], args].concat())
            .0
            .iter()
            .map(|r| r["meta"]["id"].as_str().unwrap().to_owned())
            .collect();
    ids.sort();
    ids
}

#[test]
fn write_with_index_then_ls_where_finds_exactly_that_record() {
    each_backend(
        "write_with_index_then_ls_where_finds_exactly_that_record",
        |db| {
            ok(db, "alice", &["init"]);
            let ada = write(
                db,
                "alice",
                &[
                    "-f",
                    "ssn=123-45-6789",
                    "-f",
                    "name=Ada",
                    "-p",
                    "clinic=north",
                    "--index",
                    "ssn",
                ],
            );
            let near = write(
                db,
                "alice",
                &["-f", "ssn=123-45-6780", "-f", "name=Near", "--index", "ssn"],
            );
            assert_eq!(
                found(db, "alice", &["--where", "ssn=123-45-6789"]),
                [ada.as_str()]
            );
            assert_eq!(found(db, "alice", &["--where", "ssn=123-45-6780"]), [near]);

            // Printed as `ls` prints records: meta only, or with --data.
            let (listed, _) = lines_and_stderr(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "ssn=123-45-6789", "--data"],
            );
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0]["data"]["ssn"], "123-45-6789");
            assert_eq!(listed[0]["data"]["name"], "Ada");
            assert_eq!(listed[0]["meta"]["plain"]["clinic"], "north");
            let plain_ls = json_lines(&ok(
                db,
                "alice",
                &["ls", "--type", TYPE, "-p", "clinic=north"],
            ));
            let where_ls = json_lines(&ok(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "ssn=123-45-6789"],
            ));
            assert_eq!(where_ls, plain_ls, "the same lines as `ls`");

            // The value is read as `-f` reads it: from a file too, and with
            // other filters.
            let file = db.dir.path().join("ssn.txt");
            std::fs::write(&file, "123-45-6789").unwrap();
            let from_file = format!("ssn=@{}", file.display());
            assert_eq!(found(db, "alice", &["--where", &from_file]), [ada.as_str()]);
            assert_eq!(
                found(
                    db,
                    "alice",
                    &["--where", "ssn=123-45-6789", "-p", "clinic=north"]
                ),
                [ada]
            );
            assert!(found(
                db,
                "alice",
                &["--where", "ssn=123-45-6789", "-p", "clinic=south"]
            )
            .is_empty());
        },
    );
}

#[test]
fn a_later_write_without_index_keeps_the_type_indexed() {
    each_backend("a_later_write_without_index_keeps_the_type_indexed", |db| {
        ok(db, "alice", &["init"]);
        let first = write(db, "alice", &["-f", "ssn=111", "--index", "ssn"]);
        let second = write(db, "alice", &["-f", "ssn=222"]);
        assert_eq!(found(db, "alice", &["--where", "ssn=111"]), [first]);
        assert_eq!(found(db, "alice", &["--where", "ssn=222"]), [second]);
    });
}

#[test]
fn ls_where_with_no_match_prints_nothing() {
    each_backend("ls_where_with_no_match_prints_nothing", |db| {
        ok(db, "alice", &["init"]);
        write(db, "alice", &["-f", "ssn=123-45-6789", "--index", "ssn"]);
        let out = run(
            db,
            "alice",
            &["ls", "--type", TYPE, "--where", "ssn=000-00-0000", "--data"],
        );
        assert!(out.status.success());
        assert!(
            out.stdout.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Searched values are text, as `-f` writes them: a prefix or
        // another case is another value.
        assert!(found(db, "alice", &["--where", "ssn=123-45"]).is_empty());
    });
}

#[test]
fn ls_where_on_a_field_without_an_index_fails_naming_the_indexes() {
    each_backend(
        "ls_where_on_a_field_without_an_index_fails_naming_the_indexes",
        |db| {
            ok(db, "alice", &["init"]);
            write(
                db,
                "alice",
                &["-f", "ssn=1", "-f", "name=Ada", "--index", "ssn"],
            );
            let err = fails(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "name=Ada"],
                1,
            );
            assert!(
                err.contains("covers exactly the field(s) of --where (name)"),
                "{err}"
            );
            assert!(err.contains("its indexes: ssn (ssn)"), "{err}");
            assert!(
                !err.contains("Ada"),
                "a searched value is never echoed: {err}"
            );

            write(db, "alice", &["-f", "ssn=1"]);
            ok(db, "alice", &["write", "note", "-f", "text=x"]);
            let err = fails(
                db,
                "alice",
                &["ls", "--type", "note", "--where", "text=x"],
                1,
            );
            assert!(err.contains("record type `note` has no indexes"), "{err}");
            assert!(err.contains("--index"), "{err}");

            // Usage errors: no --type, a field twice, no `=`.
            fails(db, "alice", &["ls", "--where", "ssn=1"], 2);
            fails(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "ssn=1", "--where", "ssn=2"],
                2,
            );
            let err = fails(db, "alice", &["ls", "--type", TYPE, "--where", "ssn"], 2);
            assert!(err.contains("--where takes NAME=VALUE"), "{err}");
        },
    );
}

#[test]
fn invalid_index_arguments_are_refused_and_nothing_is_written() {
    each_backend(
        "invalid_index_arguments_are_refused_and_nothing_is_written",
        |db| {
            ok(db, "alice", &["init"]);
            let cases: [(&[&str], &str); 8] = [
                (&["--index", "nope"], "the record has no field `nope`"),
                (
                    &["-p", "clinic=north", "--index", "clinic"],
                    "`clinic` is plain meta",
                ),
                (&["--index", "twice=ssn+ssn"], "names each field once"),
                (&["--index", "=ssn"], "an index needs a name"),
                (&["--index", "by=ssn+"], "names an empty field"),
                (
                    &["--index", "ssn", "--index", "ssn"],
                    "names index `ssn` twice",
                ),
                (&["--index-bits", "8"], "--index"),
                (&["--index", "ssn", "--index-bits", "0"], "--index-bits"),
            ];
            for (args, why) in cases {
                let err = fails(
                    db,
                    "alice",
                    &[&["write", TYPE, "-f", "ssn=1"][..], args].concat(),
                    2,
                );
                assert!(err.contains(why), "{args:?}: {err}");
            }
            fails(
                db,
                "alice",
                &[
                    "write",
                    TYPE,
                    "-f",
                    "ssn=1",
                    "--index",
                    "ssn",
                    "--index-normalize",
                    "upper",
                ],
                2,
            );
            fails(db, "alice", &["reindex", TYPE, "--batch", "0"], 2);
            assert!(ok(db, "alice", &["ls"]).is_empty(), "nothing written");
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM blind_index_versions"),
                0
            );
        },
    );
}

#[test]
fn a_compound_index_is_searched_with_one_where_per_field() {
    each_backend(
        "a_compound_index_is_searched_with_one_where_per_field",
        |db| {
            ok(db, "alice", &["init"]);
            let index = ["--index", "by_name_dob=last_name+dob"];
            let ada = write(
                db,
                "alice",
                &[
                    &["-f", "last_name=Lovelace", "-f", "dob=1815-12-10"][..],
                    &index,
                ]
                .concat(),
            );
            write(
                db,
                "alice",
                &["-f", "last_name=Lovelace", "-f", "dob=1900-01-01"],
            );
            write(
                db,
                "alice",
                &["-f", "last_name=Babbage", "-f", "dob=1815-12-10"],
            );
            let both = ["--where", "last_name=Lovelace", "--where", "dob=1815-12-10"];
            assert_eq!(found(db, "alice", &both), [ada.as_str()]);
            let reversed = ["--where", "dob=1815-12-10", "--where", "last_name=Lovelace"];
            assert_eq!(found(db, "alice", &reversed), [ada]);
            let err = fails(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "last_name=Lovelace"],
                1,
            );
            assert!(err.contains("by_name_dob (last_name+dob)"), "{err}");
        },
    );
}

#[test]
fn a_normalised_index_finds_the_value_in_any_case() {
    each_backend("a_normalised_index_finds_the_value_in_any_case", |db| {
        ok(db, "alice", &["init"]);
        let ada = write(
            db,
            "alice",
            &[
                "-f",
                "email=Ada@Example.org",
                "--index",
                "email",
                "--index-normalize",
                "lowercase",
            ],
        );
        write(db, "alice", &["-f", "email=bob@example.org"]);
        assert_eq!(
            found(db, "alice", &["--where", "email=ADA@example.ORG"]),
            [ada]
        );
        let (listed, _) = lines_and_stderr(
            db,
            "alice",
            &[
                "ls",
                "--type",
                TYPE,
                "--where",
                "email=ada@example.org",
                "--data",
            ],
        );
        assert_eq!(
            listed[0]["data"]["email"], "Ada@Example.org",
            "stored as written"
        );
    });
}

#[test]
fn a_truncated_index_discards_false_positives_and_says_so_on_stderr() {
    each_backend(
        "a_truncated_index_discards_false_positives_and_says_so_on_stderr",
        |db| {
            ok(db, "alice", &["init"]);
            // One bit: about half the records share each index value.
            let mut ids = Vec::new();
            for n in 0..20 {
                let ssn = format!("ssn={n:03}");
                ids.push(write(
                    db,
                    "alice",
                    &["-f", &ssn, "--index", "ssn", "--index-bits", "1"],
                ));
            }
            let (listed, stderr) = lines_and_stderr(
                db,
                "alice",
                &["ls", "--type", TYPE, "--where", "ssn=007", "--data"],
            );
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert_eq!(listed[0]["meta"]["id"], ids[7].as_str());
            assert_eq!(listed[0]["data"]["ssn"], "007");
            let discarded: usize = stderr
                .lines()
                .find_map(|l| l.strip_prefix("discarded: "))
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_else(|| panic!("no `discarded:` line: {stderr}"))
                .parse()
                .unwrap();
            assert!(discarded > 0 && discarded < 20, "{stderr}");
        },
    );
}

/// `--where` takes its index from the writers it searches: an unrelated
/// client's index over the same field, under another name, neither hides
/// this client's records nor makes the search ambiguous.
#[test]
fn ls_where_is_not_taken_over_by_an_unrelated_writers_index() {
    each_backend(
        "ls_where_is_not_taken_over_by_an_unrelated_writers_index",
        |db| {
            ok(db, "alice", &["init"]);
            ok(db, "bob", &["init"]);
            ok(db, "carol", &["init"]);
            let mine = write(db, "alice", &["-f", "ssn=111", "--index", "mine=ssn"]);
            assert_eq!(found(db, "alice", &["--where", "ssn=111"]), [mine.as_str()]);
            // Bob and Carol share nothing with Alice and index the same
            // field under other names.
            write(db, "bob", &["-f", "ssn=222", "--index", "ssn"]);
            write(db, "carol", &["-f", "ssn=333", "--index", "theirs=ssn"]);
            assert_eq!(found(db, "alice", &["--where", "ssn=111"]), [mine.as_str()]);
            assert_eq!(
                found(db, "alice", &["--where", "ssn=111", "--all-writers"]),
                [mine.as_str()]
            );
            assert!(found(db, "bob", &["--where", "ssn=111"]).is_empty());
        },
    );
}

#[test]
fn a_shared_reader_searches_with_all_writers() {
    each_backend("a_shared_reader_searches_with_all_writers", |db| {
        ok(db, "alice", &["init"]);
        let bob = last_line(&ok(db, "bob", &["init"]));
        let ada = write(db, "alice", &["-f", "ssn=123", "--index", "ssn"]);
        let search = ["--where", "ssn=123", "--all-writers"];
        assert!(found(db, "bob", &search).is_empty(), "not shared yet");
        ok(db, "alice", &["share", TYPE, "--with", &bob]);
        assert_eq!(found(db, "bob", &search), [ada.as_str()]);
        let (listed, _) = lines_and_stderr(
            db,
            "bob",
            &[
                "ls",
                "--type",
                TYPE,
                "--where",
                "ssn=123",
                "--all-writers",
                "--data",
            ],
        );
        assert_eq!(listed[0]["data"]["ssn"], "123");
        assert!(
            found(db, "bob", &["--where", "ssn=123"]).is_empty(),
            "own records only without --all-writers"
        );
        let alice_id = json_lines(&ok(db, "alice", &["ls", "--type", TYPE]))[0]["meta"]
            ["writer_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            found(db, "bob", &["--where", "ssn=123", "--writer", &alice_id]),
            [ada]
        );
    });
}

#[test]
fn reindex_indexes_records_written_before_the_index_then_ls_where_finds_all() {
    each_backend(
        "reindex_indexes_records_written_before_the_index_then_ls_where_finds_all",
        |db| {
            ok(db, "alice", &["init"]);
            let mut ids: Vec<String> = (0..3)
                .map(|n| write(db, "alice", &["-f", &format!("ssn=old-{n}")]))
                .collect();
            let out = run(
                db,
                "alice",
                &["write", TYPE, "-f", "ssn=new", "--index", "ssn"],
            );
            assert!(out.status.success());
            ids.push(last_line(&String::from_utf8(out.stdout).unwrap()));
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(
                stderr.contains("`strongroom reindex patient` adds them"),
                "{stderr}"
            );
            assert!(
                found(db, "alice", &["--where", "ssn=old-0"]).is_empty(),
                "not indexed yet"
            );
            assert_eq!(
                found(db, "alice", &["--where", "ssn=new"]),
                [ids[3].as_str()]
            );

            let summary = json_lines(&ok(db, "alice", &["reindex", TYPE, "--batch", "2"]));
            assert_eq!(summary.len(), 1, "{summary:?}");
            let s = &summary[0];
            assert_eq!(
                (
                    &s["record_type"],
                    &s["reindexed"],
                    &s["invalid"],
                    &s["remaining"],
                    &s["retired_versions"],
                    &s["batches"]
                ),
                (
                    &Value::from(TYPE),
                    &Value::from(3),
                    &Value::from(0),
                    &Value::from(0),
                    &Value::from(0),
                    &Value::from(2)
                ),
                "{s}"
            );
            for (n, id) in ids.iter().take(3).enumerate() {
                assert_eq!(
                    found(db, "alice", &["--where", &format!("ssn=old-{n}")]),
                    [id.as_str()]
                );
            }
            let again = &json_lines(&ok(db, "alice", &["reindex", TYPE]))[0];
            assert_eq!(
                (&again["reindexed"], &again["remaining"]),
                (&Value::from(0), &Value::from(0))
            );
        },
    );
}

#[test]
fn reindex_with_index_declares_it_and_indexes_the_existing_records() {
    each_backend(
        "reindex_with_index_declares_it_and_indexes_the_existing_records",
        |db| {
            ok(db, "alice", &["init"]);
            let ids: Vec<String> = (0..3)
                .map(|n| write(db, "alice", &["-f", &format!("ssn={n}")]))
                .collect();
            let err = fails(db, "alice", &["reindex", TYPE], 1);
            assert!(
                err.contains("has no indexes") && err.contains("--index FIELD"),
                "{err}"
            );
            let summary = &json_lines(&ok(db, "alice", &["reindex", TYPE, "--index", "ssn"]))[0];
            assert_eq!(summary["reindexed"], 3, "{summary}");
            for (n, id) in ids.iter().enumerate() {
                assert_eq!(
                    found(db, "alice", &["--where", &format!("ssn={n}")]),
                    [id.as_str()]
                );
            }
            // Later writes keep the index.
            let later = write(db, "alice", &["-f", "ssn=later"]);
            assert_eq!(found(db, "alice", &["--where", "ssn=later"]), [later]);
        },
    );
}

#[test]
fn reindex_after_a_revocation_moves_records_to_the_new_version_and_retires_the_old() {
    each_backend(
        "reindex_after_a_revocation_moves_records_to_the_new_version_and_retires_the_old",
        |db| {
            ok(db, "alice", &["init"]);
            let bob = last_line(&ok(db, "bob", &["init"]));
            let old: Vec<String> = (0..3)
                .map(|n| {
                    write(
                        db,
                        "alice",
                        &["-f", &format!("ssn=old-{n}"), "--index", "ssn"],
                    )
                })
                .collect();
            ok(db, "alice", &["share", TYPE, "--with", &bob]);
            ok(db, "alice", &["revoke", TYPE, "--from", &bob]);
            let new = write(db, "alice", &["-f", "ssn=new"]);
            let versions =
                || db.count("SELECT COUNT(DISTINCT index_version) AS n FROM blind_index_versions");
            assert_eq!(versions(), 2);
            // Before the reindex both versions are searched.
            assert_eq!(
                found(db, "alice", &["--where", "ssn=old-1"]),
                [old[1].as_str()]
            );

            let summary = &json_lines(&ok(db, "alice", &["reindex", TYPE]))[0];
            assert_eq!(
                (
                    &summary["reindexed"],
                    &summary["remaining"],
                    &summary["retired_versions"],
                    &summary["invalid"]
                ),
                (
                    &Value::from(3),
                    &Value::from(0),
                    &Value::from(1),
                    &Value::from(0)
                ),
                "{summary}"
            );
            assert_eq!(versions(), 1);
            for (n, id) in old.iter().enumerate() {
                assert_eq!(
                    found(db, "alice", &["--where", &format!("ssn=old-{n}")]),
                    [id.as_str()]
                );
            }
            assert_eq!(found(db, "alice", &["--where", "ssn=new"]), [new.as_str()]);
            // The revoked reader cannot compute the new version's values.
            assert!(found(db, "bob", &["--where", "ssn=new", "--all-writers"]).is_empty());
        },
    );
}

#[test]
fn adding_an_index_at_an_indexed_key_version_is_refused_until_a_rotation() {
    each_backend(
        "adding_an_index_at_an_indexed_key_version_is_refused_until_a_rotation",
        |db| {
            ok(db, "alice", &["init"]);
            let ada = write(
                db,
                "alice",
                &["-f", "ssn=1", "-f", "email=ada@x.org", "--index", "ssn"],
            );
            // Adding an index at a key version that already has indexes is
            // refused, naming the way on; nothing is written.
            let err = fails(
                db,
                "alice",
                &[
                    "write",
                    TYPE,
                    "-f",
                    "ssn=2",
                    "-f",
                    "email=bob@x.org",
                    "--index",
                    "email",
                ],
                1,
            );
            assert!(
                err.contains("cannot be added at a key version that already has indexes")
                    && err.contains("rotate the type, then reindex"),
                "{err}"
            );
            assert!(found(db, "alice", &["--where", "ssn=2"]).is_empty());
            // Changing an index within a key version is refused, naming
            // the way on; nothing is written.
            let err = fails(
                db,
                "alice",
                &[
                    "write",
                    TYPE,
                    "-f",
                    "ssn=3",
                    "--index",
                    "ssn",
                    "--index-bits",
                    "8",
                ],
                1,
            );
            assert!(
                err.contains("already declared differently") && err.contains("rotate"),
                "{err}"
            );
            assert!(found(db, "alice", &["--where", "ssn=3"]).is_empty());
            // The way on: rotate, write with the new index, reindex.
            ok(db, "alice", &["rotate", TYPE]);
            let bob = write(
                db,
                "alice",
                &["-f", "ssn=2", "-f", "email=bob@x.org", "--index", "email"],
            );
            assert_eq!(
                found(db, "alice", &["--where", "email=bob@x.org"]),
                [bob.as_str()]
            );
            assert_eq!(found(db, "alice", &["--where", "ssn=2"]), [bob]);
            ok(db, "alice", &["reindex", TYPE]);
            assert_eq!(
                found(db, "alice", &["--where", "email=ada@x.org"]),
                [ada.as_str()]
            );
            assert_eq!(found(db, "alice", &["--where", "ssn=1"]), [ada]);
        },
    );
}

#[test]
fn leakage_lists_sealed_indexed_and_plain_fields() {
    each_backend("leakage_lists_sealed_indexed_and_plain_fields", |db| {
        ok(db, "alice", &["init"]);
        write(
            db,
            "alice",
            &[
                "-f",
                "ssn=1",
                "-f",
                "notes=private",
                "-p",
                "clinic=north",
                "--index",
                "ssn",
                "--index-bits",
                "12",
            ],
        );
        let out = run(db, "alice", &["leakage", TYPE]);
        assert!(out.status.success());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        for line in [
            "record type patient: 1 records",
            "field clinic: plain; the database learns the value",
            "field notes: sealed; the database learns its size only",
            "field ssn: sealed and indexed (ssn at 12 bits)",
            "index ssn over ssn: 12 bits",
        ] {
            assert!(stdout.contains(line), "{line:?} missing: {stdout}");
        }
        assert!(
            !stdout.contains("warning"),
            "warnings go to stderr: {stdout}"
        );
        assert!(
            !stdout.contains("private") && !stdout.contains("north"),
            "{stdout}"
        );
        // One record at 12 bits: the planner says equality leaks exactly,
        // once (not also as the library's log line).
        let warnings: Vec<&str> = stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(
            warnings[0].starts_with("warning: index ssn: fewer than 2 records"),
            "{stderr}"
        );
    });
}

fn found_where(db: &TestDb, args: &[&str]) -> usize {
    json_lines(&ok(
        db,
        "alice",
        &[&["ls", "--type", TYPE][..], args].concat(),
    ))
    .len()
}

fn live_specs(db: &TestDb) -> Vec<String> {
    db.texts(&format!(
        "SELECT {} AS t FROM blind_index_versions ORDER BY index_version",
        db.hex("spec")
    ))
}

/// `--index` help: "The type's indexes so far are kept"; `search::declare`:
/// "an index of the same name and fields keeps its bits and normaliser
/// unless `--index-bits` or `--index-normalize` say otherwise". After a
/// rotation, `reindex --index email --index-bits 6` (asking for fewer
/// bits only) keeps the `lowercase` normaliser: the search that found Ada
/// still finds her.
#[test]
fn index_bits_alone_keep_the_normaliser() {
    each_backend("index_bits_alone_keep_the_normaliser", |db| {
        ok(db, "alice", &["init"]);
        ok(
            db,
            "alice",
            &[
                "write",
                TYPE,
                "-f",
                "email=Ada@Example.org",
                "--index",
                "email",
                "--index-bits",
                "8",
                "--index-normalize",
                "lowercase",
            ],
        );
        assert_eq!(found_where(db, &["--where", "email=ada@example.org"]), 1);
        ok(db, "alice", &["rotate", TYPE]);
        ok(
            db,
            "alice",
            &["reindex", TYPE, "--index", "email", "--index-bits", "6"],
        );
        assert_eq!(
            found_where(db, &["--where", "email=ada@example.org"]),
            1,
            "the lowercase normaliser was dropped: live specs {:?}",
            live_specs(db)
        );
    });
}

/// The same the other way: `--index-normalize trim` alone keeps an 8-bit
/// index at 8 bits (not the default 16: more leakage nobody asked for).
#[test]
fn index_normalize_alone_keeps_the_bits() {
    each_backend("index_normalize_alone_keeps_the_bits", |db| {
        ok(db, "alice", &["init"]);
        ok(
            db,
            "alice",
            &[
                "write",
                TYPE,
                "-f",
                "email=ada",
                "--index",
                "email",
                "--index-bits",
                "8",
            ],
        );
        ok(db, "alice", &["rotate", TYPE]);
        ok(
            db,
            "alice",
            &[
                "reindex",
                TYPE,
                "--index",
                "email",
                "--index-normalize",
                "trim",
            ],
        );
        let specs = live_specs(db);
        // u8 1 ‖ u16 bits: 8 bits is "010008…".
        assert!(
            specs.iter().all(|s| s.starts_with("010008")),
            "bits changed from 8: live specs {specs:?}"
        );
    });
}
