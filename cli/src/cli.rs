//! The command line: global options and one subcommand per task. These
//! names are a contract: scripts depend on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// strongroom: application-level encryption for your sensitive data.
#[derive(Debug, Parser)]
#[command(name = "strongroom", version, about)]
pub struct Cli {
    /// The sensitive database: sqlite://PATH, sqlite::memory: or postgres://…
    #[arg(
        long,
        global = true,
        env = "STRONGROOM_DB",
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

    /// Read the profile's passphrase from this environment variable.
    #[arg(long, global = true, value_name = "VAR")]
    pub passphrase_env: Option<String>,

    /// Adopt the database as one this profile writes to, whatever identity
    /// it carries, before the command runs: the way on after "refusing to use
    /// it for key decisions until it is adopted". Rollback protection for it
    /// restarts from the key versions it holds now (see SECURITY.md).
    #[arg(long, global = true)]
    pub adopt_database: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the profile and register the client; prints its id last.
    Init {
        /// A name for this client (stored in the clear).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print this client's fingerprint (a line `fingerprint: …`) and its id
    /// (last line).
    Whoami,
    /// Apply the migrations, or list applied and pending ones.
    Migrate {
        /// List instead of applying.
        #[arg(long)]
        status: bool,
    },
    /// Write a record; prints its id last.
    Write {
        /// The record type.
        #[arg(value_name = "TYPE")]
        record_type: String,
        #[command(flatten)]
        values: Values,
        /// Sensitive fields as a JSON object, from a file or `-` (stdin).
        #[arg(long, value_name = "FILE|-")]
        json: Option<String>,
    },
    /// Print a record as {"meta": {...}, "data": {...}} (own or shared).
    Read {
        /// The record id.
        id: String,
    },
    /// List records, one JSON object per line.
    Ls {
        /// Only this record type.
        #[arg(long = "type", value_name = "T")]
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
        /// How many records at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Decrypt and print the fields too.
        #[arg(long)]
        data: bool,
    },
    /// Change fields and plain meta of a record at a given version.
    Update {
        /// The record id.
        id: String,
        /// The version read (a stale one fails).
        #[arg(long)]
        version: u64,
        #[command(flatten)]
        values: Values,
    },
    /// Delete a record at a given version.
    Delete {
        /// The record id.
        id: String,
        /// The version read (a stale one fails).
        #[arg(long)]
        version: u64,
    },
    /// Share a record type with a client.
    Share {
        #[arg(value_name = "TYPE")]
        record_type: String,
        /// The reader's client id.
        #[arg(long = "with", value_name = "CLIENT_ID")]
        with: String,
        /// The reader's fingerprint, checked out of band (its `strongroom
        /// whoami`); a mismatch refuses, pinning and sharing nothing.
        #[arg(long, value_name = "FINGERPRINT")]
        fingerprint: Option<String>,
    },
    /// List pinned peers with their fingerprints, one JSON object per line.
    Peers,
    /// Pin a peer's public keys after checking them against its
    /// fingerprint (obtained out of band), before first use.
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
    /// peers pinned with `pin`).
    Trust {
        /// The new setting; without it, print the current one.
        #[arg(value_name = "first-use|verified")]
        mode: Option<TrustMode>,
    },
    /// Revoke a client's access to a record type (rotates the key).
    Revoke {
        #[arg(value_name = "TYPE")]
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
    Authorize {
        #[arg(value_name = "TYPE")]
        record_type: String,
        /// The authoriser's client id.
        #[arg(long, value_name = "CLIENT_ID")]
        to: String,
    },
    /// Withdraw an authoriser (and the shares it made).
    Unauthorize {
        #[arg(value_name = "TYPE")]
        record_type: String,
        /// The authoriser's client id.
        #[arg(long, value_name = "CLIENT_ID")]
        from: String,
    },
    /// List outgoing and incoming shares, one JSON object per line.
    Shares,
    /// Start a new key version for a record type.
    Rotate {
        #[arg(value_name = "TYPE")]
        record_type: String,
        /// Also re-wrap existing records under the new key version.
        #[arg(long)]
        rewrap: bool,
    },
    /// Encrypted files.
    #[command(subcommand)]
    File(FileCommand),
    /// Encrypt the rows of an existing plaintext table into strongroom.
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
    /// A sensitive field (a string value).
    #[arg(short = 'f', value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// A plain meta entry (stored in the clear, filterable).
    #[arg(short = 'p', value_name = "NAME=VALUE")]
    pub plain: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Encrypt a file into the store.
    Put {
        path: PathBuf,
        #[arg(long = "type", value_name = "T")]
        record_type: String,
        #[arg(short = 'p', value_name = "NAME=VALUE")]
        plain: Vec<String>,
    },
    /// Decrypt a stored file.
    Get {
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The source database: postgres://… or sqlite://PATH (only read).
    #[arg(long, value_name = "URL")]
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
    #[arg(long = "type", value_name = "TYPE")]
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
}
