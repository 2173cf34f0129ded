//! The command line: global options and one subcommand per task. These
//! names are a contract: scripts depend on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// strongroom: application-level encryption for your sensitive data.
#[derive(Debug, Parser)]
#[command(name = "strongroom", version, about)]
pub struct Cli {
    /// The sensitive database: sqlite://PATH (created only by `init` and
    /// `migrate`), sqlite::memory:, postgres://… or libpq keywords
    /// ("host=db dbname=app sslmode=verify-full")
    #[arg(
        long,
        global = true,
        env = "STRONGROOM_DB",
        hide_env_values = true,
        default_value = "sqlite://strongroom.db"
    )]
    pub db: String,

    /// This client's profile file.
    #[arg(
        long,
        global = true,
        env = "STRONGROOM_PROFILE",
        default_value = "strongroom.profile"
    )]
    pub profile: PathBuf,

    /// Read the profile's passphrase from this environment variable
    /// (without it, a sealed profile's passphrase is asked for when standard
    /// input is a terminal).
    #[arg(long, global = true, value_name = "VAR")]
    pub passphrase_env: Option<String>,

    /// The largest field value `-f`, `--json` or an import's sensitive
    /// column takes, in bytes (larger bodies belong in files).
    #[arg(
        long,
        global = true,
        env = "STRONGROOM_MAX_FIELD_SIZE",
        value_name = "BYTES",
        default_value_t = crate::values::DEFAULT_MAX_FIELD_SIZE
    )]
    pub max_field_size: u64,

    /// Adopt the database as one this profile writes to, whatever identity
    /// it carries, before the command runs: the way on after "refusing to use
    /// it for key decisions until it is adopted". Rollback protection for it
    /// restarts from the key versions it holds now (see SECURITY.md).
    /// Only on a command that opens the database as the client: `init`,
    /// `whoami`, `profile` and `migrate` refuse it (exit status 2).
    #[arg(long, global = true)]
    pub adopt_database: bool,

    /// Log each library operation as it ends (its name, record type,
    /// counts and duration; never a value) on stderr: -v at info level,
    /// -vv at debug level. `RUST_LOG` overrides the level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the profile and register the client; prints its id last.
    #[command(after_help = "Example:\n  strongroom --profile alice.profile init --name alice")]
    Init {
        /// A name for this client (stored in the clear).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print this client's fingerprint (a line `fingerprint: …`), whether
    /// its profile is sealed under a passphrase (`sealed: yes|no`) and its id
    /// (last line).
    #[command(after_help = "Example:\n  strongroom --profile alice.profile whoami")]
    Whoami,
    /// Manage the profile file itself.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Recovery without key escrow: a recovery client kept offline, reading
    /// a lost client's data back, and the way on after restoring an older
    /// database (see OPERATIONS.md).
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// Apply the migrations, or list applied and pending ones.
    #[command(
        after_help = "Example:\n  strongroom --db postgres://app@db/sensitive migrate --status"
    )]
    Migrate {
        /// List instead of applying.
        #[arg(long)]
        status: bool,
    },
    /// Write a record; prints its id last.
    #[command(
        after_help = "Examples:\n  strongroom write patient -f name='Ada Lovelace' -f notes=@notes.txt -p clinic=north\n  strongroom write patient -f ssn=@ssn.txt -f last_name=Lovelace -f dob=1815-12-10 --index ssn --index by_name_dob=last_name+dob\n\nWith --index, the type is indexed from then on: later writes (with or without --index) keep its indexes, and `strongroom reindex TYPE` indexes the records written before."
    )]
    Write {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        #[command(flatten)]
        values: Values,
        /// Sensitive fields as a JSON object, from a file or `-` (stdin).
        #[arg(long, value_name = "FILE|-")]
        json: Option<String>,
        #[command(flatten)]
        index: IndexArgs,
    },
    /// Print a record as one line {"data":{...},"meta":{...}} (own or shared).
    #[command(after_help = "Example:\n  strongroom read 0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c")]
    Read {
        /// The record id (a UUID, as `write` prints it).
        id: String,
    },
    /// List records, one JSON object per line.
    #[command(
        after_help = "Examples:\n  strongroom ls --type patient -p clinic=north --data --limit 50\n  strongroom ls --type patient --where ssn=@ssn.txt --data\n  strongroom ls --type patient --where last_name=Lovelace --where dob=1815-12-10 --all-writers"
    )]
    Ls {
        /// Only this record type.
        #[arg(long = "type", value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: Option<String>,
        /// Only this writer's records.
        #[arg(long, value_name = "ID")]
        writer: Vec<String>,
        /// Also every writer sharing with this client.
        #[arg(long)]
        all_writers: bool,
        /// Plain meta equality filters.
        #[arg(short = 'p', value_name = "NAME=VALUE")]
        plain: Vec<String>,
        /// Exact match on a sealed field through its blind index (needs
        /// --type): the value as `-f` takes it (VALUE, @PATH, `-` for
        /// stdin, @@…), compared as the text `-f` writes (a field written
        /// with --json as a number or another non-string value is indexed
        /// as that value, and --where does not find it). Repeat it for each
        /// field of a compound index. The index is the one over exactly
        /// these fields, of the writers searched (this client, those of
        /// --writer, or with --all-writers those sharing the type);
        /// records are decrypted and compared before they are printed, and
        /// stderr says how many candidates were discarded.
        #[arg(long = "where", value_name = "FIELD=VALUE", requires = "record_type")]
        where_: Vec<String>,
        /// How many records at most; when more match, stderr says how to
        /// go on (`more: --after CURSOR`).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Start after this cursor (printed by an earlier `ls` that had
        /// more).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// Decrypt and print the fields too.
        #[arg(long)]
        data: bool,
    },
    /// Change fields and plain meta of a record at a given version.
    #[command(
        after_help = "Example:\n  strongroom update 0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c --version 1 -f name=-  < new-name.txt"
    )]
    Update {
        /// The record id (a UUID, as `write` prints it).
        id: String,
        /// The version read (a stale one fails).
        #[arg(long)]
        version: u64,
        #[command(flatten)]
        values: Values,
    },
    /// Delete a record at a given version.
    #[command(
        after_help = "Example:\n  strongroom delete 0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c --version 2"
    )]
    Delete {
        /// The record id (a UUID, as `write` prints it).
        id: String,
        /// The version read (a stale one fails).
        #[arg(long)]
        version: u64,
    },
    /// Share a record type with a client: this client's own type, or with
    /// --writer another writer's type that writer authorised this client to
    /// share (`strongroom authorize`).
    #[command(
        after_help = "Examples:\n  strongroom share patient --with \"$bob_id\" --fingerprint \"$bob_fingerprint\"\n  strongroom share patient --with \"$bob_id\" --writer \"$clinic_id\""
    )]
    Share {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// The reader's client id.
        #[arg(long = "with", value_name = "CLIENT_ID")]
        with: String,
        /// The reader's fingerprint, checked out of band (its `strongroom
        /// whoami`); a mismatch refuses, pinning and sharing nothing.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
        /// Share this writer's type on its behalf (this client holds an
        /// authoriser grant from it), instead of this client's own.
        #[arg(long, value_name = "CLIENT_ID")]
        writer: Option<String>,
    },
    /// List pinned peers with their fingerprints, one JSON object per line.
    #[command(after_help = "Example:\n  strongroom peers")]
    Peers,
    /// Pin a peer's public keys after checking them against its
    /// fingerprint (obtained out of band), before first use.
    #[command(
        after_help = "Example:\n  strongroom pin \"$bob_id\" --fingerprint \"$bob_fingerprint\""
    )]
    Pin {
        /// The peer's client id.
        #[arg(value_name = "CLIENT_ID")]
        client_id: String,
        /// The peer's fingerprint (30 digits; spaces and hyphens ignored).
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: String,
    },
    /// Show or set which peers this profile trusts: `first-use` (pin a
    /// peer's keys the first time they are needed) or `verified` (only
    /// peers pinned with `pin`, or `share --fingerprint`; `peers` shows
    /// which).
    #[command(after_help = "Example:\n  strongroom trust verified")]
    Trust {
        /// The new setting; without it, print the current one.
        #[arg(value_name = "first-use|verified")]
        mode: Option<TrustMode>,
    },
    /// Revoke a client's access to a record type (rotates the key).
    #[command(after_help = "Example:\n  strongroom revoke patient --from \"$bob_id\" --rewrap")]
    Revoke {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// The reader's client id.
        #[arg(long, value_name = "CLIENT_ID")]
        from: String,
        /// Also re-wrap existing records under the new key version.
        #[arg(long)]
        rewrap: bool,
        /// If the client holds no share of the type (an error otherwise),
        /// rotate the key all the same.
        #[arg(long)]
        rotate_anyway: bool,
    },
    /// Let a client share a record type on this client's behalf.
    #[command(after_help = "Example:\n  strongroom authorize patient --to \"$clinic_id\"")]
    Authorize {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// The authoriser's client id (`--with` as for `share` works too).
        #[arg(long, value_name = "CLIENT_ID", alias = "with")]
        to: String,
    },
    /// Withdraw an authoriser (and the shares it made).
    #[command(after_help = "Example:\n  strongroom unauthorize patient --from \"$clinic_id\"")]
    Unauthorize {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// The authoriser's client id.
        #[arg(long, value_name = "CLIENT_ID")]
        from: String,
    },
    /// List outgoing and incoming shares, one JSON object per line.
    #[command(after_help = "Example:\n  strongroom shares")]
    Shares,
    /// Move this client's existing records of a type to the current key
    /// version (their data keys re-wrapped, no value re-encrypted): what
    /// `revoke --rewrap` and `rotate --rewrap` run after their rotation, and
    /// how to finish one they left interrupted. In batches, one
    /// transaction each; stopped, it goes on where it was when run again.
    /// Prints one JSON line: `{"rewrap": {"rewrapped": N, "invalid": N,
    /// "batches": N, "remaining": N, "interrupted": null}}`; on failure
    /// `"interrupted"` holds the error that stopped it, a refusal too
    /// (a rolled-back key: the error line says "refused" and the way on,
    /// and running it again meets the same refusal).
    #[command(after_help = "Example:\n  strongroom rewrap patient")]
    Rewrap {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
    },
    /// Start a new key version for a record type.
    #[command(after_help = "Example:\n  strongroom rotate patient --rewrap")]
    Rotate {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// Also re-wrap existing records under the new key version.
        #[arg(long)]
        rewrap: bool,
    },
    /// Index this client's records of a type with its blind indexes, under
    /// the current key version; prints one JSON line of what it did. It
    /// indexes the records written before an index existed, and moves
    /// those left on an older index version by a rotation or revocation.
    /// In batches, one transaction each; stopped, it goes on where it was
    /// when run again. Searches keep finding every record meanwhile. Once
    /// no record is behind, older index versions are retired (a revoked
    /// reader can then compute no index value of the type). On a terminal,
    /// stderr shows the records done so far.
    #[command(
        after_help = "Examples:\n  strongroom reindex patient\n  strongroom reindex patient --index ssn --batch 200"
    )]
    Reindex {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// Records per transaction (1 to 4096).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=4096))]
        batch: u16,
        #[command(flatten)]
        index: IndexArgs,
    },
    /// What the database learns of each field of a record type, and the
    /// index planner's warnings. One line per field: sealed (the database learns its size only),
    /// indexed (also which records share an index value, at N bits) or
    /// plain (the value); then one line per index with how many records are
    /// expected to share a value at the current record count. The planner's
    /// warnings go to stderr (`warning: index NAME: …`): fewer than 2
    /// records per value (equality leaks exactly; keep fewer bits) or more
    /// than 1000 (searches decrypt too many candidates; keep more bits).
    #[command(after_help = "Example:\n  strongroom leakage patient")]
    Leakage {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
    },
    /// Encrypted files: a body streamed into the store in sealed chunks
    /// (never held whole in memory) as a file record of a type, with plain
    /// meta like any record's; shared, revoked, rotated and deleted
    /// (`strongroom delete ID --version N`) like other records.
    #[command(
        subcommand,
        after_help = "Examples:\n  id=$(strongroom file put scan.pdf --type scan -p patient=1815 | tail -n1)\n  tar c notes/ | strongroom file put - --type archive\n  strongroom file ls --type scan\n  strongroom file get \"$id\" --out scan-copy.pdf\n  strongroom file get \"$id\" --out - | sha256sum"
    )]
    File(FileCommand),
    /// Encrypt the rows of an existing plaintext table into strongroom.
    #[command(
        after_help = "Example:\n  strongroom import --from postgres://app@db/app --table patients --id-column id --sensitive name,ssn --plain clinic --type patient --verify\n\nWhich record a source row became (one JSON line per source id):\n  strongroom import --from postgres://app@db/app --table patients --id-column id --type patient --map --source-id 17\n\nA source is its database (PostgreSQL: server system identifier and database name; SQLite: the file, by canonical path and inode) and its schema-qualified table, however it is reached; rows already imported into the same --type are skipped."
    )]
    Import(ImportArgs),
}

/// Which peers a profile trusts (`strongroom trust`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TrustMode {
    /// Pin a peer's keys the first time they are needed.
    FirstUse,
    /// Only peers pinned from their fingerprint.
    Verified,
}

/// Field and plain meta values given on the command line.
#[derive(Debug, Args)]
pub struct Values {
    /// A sensitive field, a text value: NAME=VALUE, NAME=@PATH (the file's
    /// text), NAME=- (stdin), NAME=@@… (a value starting with `@`). Prefer
    /// @PATH or - for secrets: arguments land in shell history.
    #[arg(short = 'f', value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// A plain meta entry (stored in the clear, filterable).
    #[arg(short = 'p', value_name = "NAME=VALUE")]
    pub plain: Vec<String>,
}

/// Blind indexes to add to a record type (`write`, `reindex`).
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Index a sealed field for `ls --where` (repeatable): FIELD (an index
    /// named after the field) or NAME=FIELD+FIELD… (a compound index, found
    /// with one --where per field). The type's indexes so far are kept.
    #[arg(
        long = "index",
        value_name = "FIELD|NAME=FIELD+FIELD",
        value_parser = crate::search::index_arg
    )]
    pub indexes: Vec<crate::search::IndexArg>,
    /// Bits each --index of this command keeps (1 to 256; default 16):
    /// fewer bits, more records share an index value (less leakage, more
    /// candidates decrypted per search). See `strongroom leakage`.
    #[arg(
        long,
        value_name = "N",
        requires = "indexes",
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub index_bits: Option<u16>,
    /// Normalise the values of each --index of this command before they
    /// are indexed and before a search compares them: `lowercase`
    /// (Unicode; `Ada@Example.org` is found as `ada@example.org`) or `trim`
    /// (leading and trailing whitespace removed).
    #[arg(long, value_name = "lowercase|trim", requires = "indexes")]
    pub index_normalize: Option<IndexNormalize>,
}

/// A built-in normaliser (`--index-normalize`; described there, so that
/// help keeps one line per option).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IndexNormalize {
    Lowercase,
    Trim,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Add, change or remove the profile's passphrase. The file is replaced
    /// atomically: it holds the old sealing or the new one, never a mix.
    /// Processes that have the profile open must load it again.
    #[command(
        after_help = "Examples:\n  strongroom --profile alice.profile profile passwd\n  strongroom --passphrase-env OLD profile passwd --new-passphrase-env NEW\n  strongroom --passphrase-env OLD profile passwd --remove"
    )]
    Passwd {
        /// Read the new passphrase from this environment variable instead of
        /// asking for it.
        #[arg(long, value_name = "VAR")]
        new_passphrase_env: Option<String>,
        /// Store the secret keys unsealed (file permissions only).
        #[arg(long, conflicts_with = "new_passphrase_env")]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Create a recovery profile (sealed under its own passphrase) at
    /// `--out`, register it, and share every record type of this client with
    /// it and authorise it — now, and each new type with its first key.
    /// Keep the file offline and its passphrase apart from it. Prints the
    /// record types covered (one JSON line) and the recovery client's id
    /// last.
    #[command(
        after_help = "Example:\n  strongroom --profile alice.profile recovery create --out /media/offline/alice-recovery.profile"
    )]
    Create {
        /// Where to write the recovery profile (must not exist).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Read the recovery profile's passphrase from this environment
        /// variable instead of asking for it (it is required).
        #[arg(long, value_name = "VAR")]
        recovery_passphrase_env: Option<String>,
    },
    /// Run with the recovery profile (`--profile`): share every record type
    /// of the lost client `--lost` that this recovery client is authorised
    /// for with the client that replaces it (`--to`), which then reads that
    /// data. One JSON line per record type.
    #[command(
        after_help = "Example:\n  strongroom --profile alice-recovery.profile recovery restore --lost \"$old_alice_id\" --to \"$new_alice_id\" --fingerprint \"$new_alice_fingerprint\""
    )]
    Restore {
        /// The lost client's id.
        #[arg(long, value_name = "CLIENT_ID")]
        lost: String,
        /// The client that replaces it (already initialised).
        #[arg(long, value_name = "CLIENT_ID")]
        to: String,
        /// The replacement's fingerprint (its `strongroom whoami`), checked
        /// before anything is shared.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
    /// After restoring a database backup older than this profile (writes
    /// fail with "the database offers an older access key"): start a new
    /// key version above the profile's mark, shared only with the readers
    /// named by `--reader` (confirm each anew) and the recovery client.
    /// Logged; never done automatically.
    #[command(
        after_help = "Example:\n  strongroom recovery restart-lineage patient --reader \"$bob_id\""
    )]
    RestartLineage {
        /// The record type (e.g. `patient`): 1 to 255 bytes, not blank.
        #[arg(value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// A reader to share the new version with (repeat for each).
        #[arg(long = "reader", value_name = "CLIENT_ID")]
        readers: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Encrypt a file into the store as a new file record of TYPE, reading
    /// it to its end in chunks; prints the record's id last. One
    /// transaction: if reading fails or the command is stopped, nothing is
    /// stored. On SQLite the upload holds the database's write lock until
    /// it ends (other writers wait).
    #[command(
        after_help = "Examples:\n  strongroom file put scan.pdf --type scan -p patient=1815\n  pg_dump app | strongroom file put - --type backup -p day=monday\n\nA file named `-` is given as ./-"
    )]
    Put {
        /// The file to encrypt, or `-` for standard input.
        #[arg(value_name = "PATH|-")]
        path: PathBuf,
        /// The record type (e.g. `scan`): 1 to 255 bytes, not blank.
        #[arg(long = "type", value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// A plain meta entry (stored in the clear, filterable).
        #[arg(short = 'p', value_name = "NAME=VALUE")]
        plain: Vec<String>,
    },
    /// Decrypt a file record (own or shared) to --out. The body is written
    /// to a temporary file beside PATH (mode 0600: owner only), flushed to
    /// disk, and renamed to PATH only once the whole body and its
    /// signature verified: on any failure there is no file at PATH (an
    /// existing one is left as it was) and the temporary file is removed.
    /// Prints nothing on stdout unless --out is `-`.
    #[command(
        after_help = "Examples:\n  strongroom file get 0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c --out scan.pdf\n  strongroom file get 0192f1d2-7c3e-7a21-9d2b-5c1e8f3a4b6c --out - | tar x\n\nWith --out -, the body goes to standard output as it is verified: on a failure (exit status 1) standard output may already hold a prefix of the body, never its last chunk. Keep it only if the command succeeded.\n\nOn Linux the body is written to a file with no name until it is whole and verified: nothing is left behind whatever ends the tool. Elsewhere (or on a filesystem without such files) it is .strongroom-XXXXXX.part beside PATH (mode 0600), removed on failure and by Ctrl-C, SIGTERM or SIGHUP; SIGKILL (kill -9) or a machine crash can leave it: it holds decrypted bytes; remove it."
    )]
    Get {
        /// The file record's id (a UUID, as `file put` prints it).
        id: String,
        /// Where to write the body, or `-` for standard output. An existing
        /// file is not overwritten without --force (like `init` and
        /// `recovery create`).
        #[arg(long, value_name = "PATH|-")]
        out: PathBuf,
        /// Replace an existing regular file at --out (atomically, and only
        /// on success; the new file has mode 0600). A symbolic link, device
        /// or pipe is never replaced.
        #[arg(long)]
        force: bool,
    },
    /// List file records of a type, one JSON object per line, as `ls`
    /// prints records; `meta.file_size` is the body's length in bytes.
    /// Records that are not files are left out.
    #[command(
        after_help = "Example:\n  strongroom file ls --type scan -p patient=1815 --all-writers"
    )]
    Ls {
        /// The record type.
        #[arg(long = "type", value_name = "TYPE", value_parser = crate::values::record_type)]
        record_type: String,
        /// Only this writer's files.
        #[arg(long, value_name = "ID")]
        writer: Vec<String>,
        /// Also the files of every writer sharing the type with this client.
        #[arg(long)]
        all_writers: bool,
        /// Plain meta equality filters.
        #[arg(short = 'p', value_name = "NAME=VALUE")]
        plain: Vec<String>,
        /// How many files at most (default: all); when more match, stderr
        /// says how to go on (`more: --after CURSOR`).
        #[arg(long)]
        limit: Option<usize>,
        /// Start after this cursor (printed by an earlier `file ls` that
        /// had more).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The source database: postgres://…, libpq keywords (host=… dbname=…) or sqlite://PATH (only read; PostgreSQL gives up after 5 s unless the URL sets connect_timeout). A URL holding a password belongs in STRONGROOM_IMPORT_FROM, or the password in PGPASSWORD or ~/.pgpass: other local users can read a command line.
    #[arg(
        long,
        value_name = "URL",
        env = "STRONGROOM_IMPORT_FROM",
        hide_env_values = true
    )]
    pub from: String,
    /// The source table.
    #[arg(long)]
    pub table: String,
    /// The column that identifies a row.
    #[arg(long, value_name = "COL")]
    pub id_column: String,
    /// Columns to encrypt, comma-separated.
    #[arg(long, value_name = "COL,COL", value_delimiter = ',')]
    pub sensitive: Vec<String>,
    /// Columns to keep as plain meta, comma-separated.
    #[arg(long, value_name = "COL,COL", value_delimiter = ',')]
    pub plain: Vec<String>,
    /// The record type to import into.
    #[arg(long = "type", value_name = "TYPE", value_parser = crate::values::record_type)]
    pub record_type: String,
    /// Rows per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Decrypt every imported record and compare it with the source.
    #[arg(long)]
    pub verify: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Import nothing: print the record each source row became, one line
    /// {"source_id": …, "record_id": …} per row (null when not imported,
    /// and then fail), for the --source-id values or else every row.
    #[arg(long, conflicts_with = "verify")]
    pub map: bool,
    /// With --map: only this source id (repeatable).
    #[arg(long = "source-id", value_name = "ID", requires = "map")]
    pub source_ids: Vec<String>,
}
