//! One function per subcommand.

use crate::held_stderr::note;
use anyhow::{bail, Result};
use serde_json::json;
use strongroom::PeerTrust;
use strongroom::{
    Client, ClientId, Cursor, Fields, Fingerprint, Plain, Profile, ProfileOptions, Query, Record,
    RecordId, RewrapReport, Store, StoreOptions,
};

use crate::cli::{Cli, Command, IndexArgs, ProfileCommand, RecoveryCommand, TrustMode, Values};
use crate::passphrase::{self, Passphrase};
use crate::{output, progress, search, values, Usage};

/// The client of one command; what it did ([`strongroom::Counters`]) is
/// logged at info level (`-v`) when the command is done with it.
pub struct Session(Client);

impl std::ops::Deref for Session {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let c = self.0.counters();
        tracing::info!(
            records_written = c.records_written,
            records_read = c.records_read,
            records_skipped = c.records_skipped,
            key_unwraps = c.key_unwraps,
            cache_hits = c.cache_hits,
            cache_misses = c.cache_misses,
            conflicts = c.conflicts,
            "counters"
        );
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context_ { cli: &cli };
    // Only a command that opens the database as the profile's client can
    // adopt it; on the others the flag would pass silently and the next
    // write would be refused again.
    if cli.adopt_database
        && matches!(
            cli.command,
            Command::Init { .. } | Command::Whoami | Command::Profile(_) | Command::Migrate { .. }
        )
    {
        return Err(Usage(
            "--adopt-database takes effect on a command that opens the database as this profile's client; `init`, `whoami`, `profile` and `migrate` do not: give it to the command that was refused (for example `strongroom --adopt-database ls --type TYPE`)".into(),
        )
        .into());
    }
    match &cli.command {
        Command::Init { name } => ctx.init(name.as_deref()),
        Command::Whoami => {
            let profile = ctx.profile()?;
            let public = profile.identity().public();
            crate::out!("fingerprint: {}", public.fingerprint()?);
            crate::out!("sealed: {}", if profile.is_sealed() { "yes" } else { "no" });
            crate::out!("{}", public.client_id);
            Ok(())
        }
        Command::Profile(ProfileCommand::Passwd {
            new_passphrase_env,
            remove,
        }) => ctx.passwd(new_passphrase_env.as_deref(), *remove),
        Command::Migrate { status } => ctx.migrate(*status),
        Command::Write {
            record_type,
            values,
            json,
            index,
        } => ctx.write(record_type, values, json.as_deref(), index),
        Command::Read { id } => {
            let id = parse_record_id(id)?;
            let client = ctx.client()?;
            let record = client.get(id)?;
            output::record_line(&record, true)?;
            if record.meta().file_size.is_some() {
                note!("note: record {id} is a file record: its body is read with `strongroom file get {id} --out PATH`");
            }
            Ok(())
        }
        Command::Ls {
            record_type,
            writer,
            all_writers,
            plain,
            where_,
            limit,
            after,
            data,
        } => {
            let listing = Listing {
                record_type: record_type.as_deref(),
                writers: writer,
                all_writers: *all_writers,
                plain,
                limit: Some(*limit),
                after: after.as_deref(),
                data: *data,
            };
            let mut query = listing.query()?;
            let wanted = values::read_pairs("--where", where_, ctx.cli.max_field_size)?;
            search::check_where(&wanted)?;
            let client = ctx.client()?;
            if let (Some(record_type), false) = (record_type, wanted.is_empty()) {
                let writers = search::searched_writers(
                    &client,
                    record_type,
                    &listing.writer_ids()?,
                    *all_writers,
                )?;
                query = query.index_eq(search::where_condition(
                    &client,
                    record_type,
                    &wanted,
                    &writers,
                )?);
            }
            listing.print(&client, query, |_| true)
        }
        Command::Update {
            id,
            version,
            values,
        } => ctx.update(id, *version, values),
        Command::Delete { id, version } => {
            let id = parse_record_id(id)?;
            let client = ctx.client()?;
            client.delete(id, *version)?;
            output::line(&json!({ "deleted": id.to_string() }));
            Ok(())
        }
        Command::Share {
            record_type,
            with,
            fingerprint,
            writer,
        } => {
            let reader = parse_client_id(with)?;
            let fingerprint = fingerprint.as_deref().map(parse_fingerprint).transpose()?;
            let writer = writer.as_deref().map(parse_client_id).transpose()?;
            let client = ctx.client()?;
            let outcome = match (writer, fingerprint) {
                (Some(writer), fingerprint) => {
                    // The reader's keys checked before anything is wrapped
                    // to them, as `share --fingerprint` does.
                    if let Some(fingerprint) = fingerprint {
                        client.pin_peer(reader, &fingerprint)?;
                    }
                    client.share_on_behalf(writer, record_type, reader)?
                }
                (None, Some(fingerprint)) => {
                    client.share_verified(record_type, reader, &fingerprint)?
                }
                (None, None) => client.share(record_type, reader)?,
            };
            let mut line = json!({
                "shared": record_type, "with": reader.to_string(),
                "wrapped_keys": outcome.wrapped_keys, "policies": outcome.policies,
            });
            if let Some(writer) = writer {
                line["writer"] = json!(writer.to_string());
            }
            output::line(&line);
            Ok(())
        }
        Command::Revoke {
            record_type,
            from,
            rewrap,
            rotate_anyway,
        } => {
            let reader = parse_client_id(from)?;
            let client = ctx.client()?;
            let outcome = match client.revoke(record_type, reader) {
                Ok(outcome) => outcome,
                Err(strongroom::Error::NotShared { .. }) if *rotate_anyway => {
                    note!(
                        "warning: client {reader} holds no share of record type `{record_type}`; rotating the key anyway"
                    );
                    return ctx.rotate(&client, record_type, *rewrap, true);
                }
                Err(err @ strongroom::Error::NotShared { .. }) => {
                    bail!("{err} (use --rotate-anyway to rotate the key regardless)");
                }
                Err(err) => return Err(err.into()),
            };
            let report = rewrap.then(|| ctx.rewrap(&client, record_type));
            output::line(&json!({
                "revoked": record_type, "from": reader.to_string(),
                "new_key_version": outcome.new_version,
                "rewrapped": report.as_ref().map_or(0, |r| r.done.rewrapped),
            }));
            output::line(&json!({
                "removed_readers": outcome.removed_readers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }));
            finish_rewrap(report, Some("revocation"), record_type)
        }
        Command::Peers => {
            let client = ctx.client()?;
            for peer in client.pinned_peers() {
                output::line(&json!({
                    "client_id": peer.client_id.to_string(),
                    "fingerprint": peer.fingerprint()?.to_string(),
                    "verified": client.is_pin_verified(peer.client_id),
                }));
            }
            Ok(())
        }
        Command::Pin {
            client_id,
            fingerprint,
        } => {
            let peer = parse_client_id(client_id)?;
            let fingerprint = parse_fingerprint(fingerprint)?;
            let client = ctx.client()?;
            let pinned = client.pin_peer(peer, &fingerprint)?;
            output::line(&json!({
                "pinned": pinned.client_id.to_string(),
                "fingerprint": pinned.fingerprint()?.to_string(),
            }));
            Ok(())
        }
        Command::Trust { mode } => {
            let client = ctx.client()?;
            if let Some(mode) = mode {
                client.set_peer_trust(match mode {
                    TrustMode::FirstUse => PeerTrust::FirstUse,
                    TrustMode::Verified => PeerTrust::Verified,
                })?;
            }
            let shown = match client.peer_trust() {
                PeerTrust::Verified => "verified",
                _ => "first-use",
            };
            output::line(&json!({ "trust": shown }));
            Ok(())
        }
        Command::Authorize { record_type, to } => {
            let authorizer = parse_client_id(to)?;
            let client = ctx.client()?;
            client.add_authorizer(record_type, authorizer)?;
            output::line(&json!({ "authorized": record_type, "to": authorizer.to_string() }));
            Ok(())
        }
        Command::Unauthorize { record_type, from } => {
            let authorizer = parse_client_id(from)?;
            let client = ctx.client()?;
            let outcome = client
                .remove_authorizer(record_type, authorizer)
                .map_err(|err| match err {
                    strongroom::Error::NotShared { record_type, reader } => anyhow::anyhow!(
                        "client {reader} is not an authoriser of record type `{record_type}`: nothing was withdrawn and the key was not rotated"
                    ),
                    other => other.into(),
                })?;
            output::line(&json!({
                "unauthorized": record_type, "from": authorizer.to_string(), "rows_deleted": outcome.rows_deleted,
                "removed_readers": outcome.removed_readers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }));
            Ok(())
        }
        Command::Shares => {
            let client = ctx.client()?;
            for share in client.outgoing_shares()? {
                output::line(&output::share(&share, "outgoing"));
            }
            for share in client.incoming_shares()? {
                output::line(&output::share(&share, "incoming"));
            }
            Ok(())
        }
        Command::Rotate {
            record_type,
            rewrap,
        } => ctx.rotate(&*ctx.client()?, record_type, *rewrap, false),
        Command::Rewrap { record_type } => {
            let report = ctx.rewrap(&*ctx.client()?, record_type);
            if report.interrupted.is_none() && report.done.key_version.is_none() {
                // A mistyped type must not pass for a finished re-wrap.
                bail!(
                    "this client holds no key of record type `{record_type}`: nothing to re-wrap"
                );
            }
            finish_rewrap(Some(report), None, record_type)
        }
        Command::Reindex {
            record_type,
            batch,
            index,
        } => {
            search::check_args(index, None, &Default::default())?;
            search::reindex(&*ctx.client()?, record_type, *batch, index)
        }
        Command::Leakage { record_type } => {
            // The command prints the planner's warnings itself; the
            // library's log of them is kept only when logs were asked for.
            let logs_asked = ctx.cli.verbose > 0 || crate::rust_log_set();
            search::leakage(&*ctx.client()?, record_type, !logs_asked)
        }
        Command::File(command) => crate::files::run(command, || ctx.client()),
        Command::Import(args) => crate::import::run(&*ctx.client()?, args, ctx.cli.max_field_size),
        Command::Recovery(command) => ctx.recovery(command),
    }
}

/// What every command needs from the global options.
struct Context_<'a> {
    cli: &'a Cli,
}

impl Context_<'_> {
    /// The passphrase `--passphrase-env` names, if it names one.
    fn passphrase_from_env(&self) -> Result<Option<Passphrase>> {
        self.cli
            .passphrase_env
            .as_deref()
            .map(passphrase::from_env)
            .transpose()
    }

    /// The profile, opened with the passphrase from `--passphrase-env`, or
    /// one asked for on the terminal when it is sealed and none was given.
    fn profile(&self) -> Result<Profile> {
        let given = self.passphrase_from_env()?;
        let first = Profile::load(&self.cli.profile, given.as_ref().map(|p| p.as_str()));
        let Err(strongroom::Error::Profile(strongroom::ProfileError::PassphraseRequired { path })) =
            first
        else {
            return self.explain_load(first);
        };
        if given.is_some() || !passphrase::can_prompt() {
            bail!(
                "profile {} is sealed under a passphrase: {}",
                path.display(),
                passphrase::HOW_TO_GIVE
            );
        }
        let typed =
            passphrase::prompt(&format!("Passphrase for {}: ", self.cli.profile.display()))?;
        self.explain_load(Profile::load(&self.cli.profile, Some(&typed)))
    }

    /// A profile that could not be loaded because it is not there is named
    /// with the way to create one.
    fn explain_load(&self, loaded: strongroom::Result<Profile>) -> Result<Profile> {
        loaded.map_err(|err| match err {
            strongroom::Error::Profile(strongroom::ProfileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                anyhow::anyhow!(
                    "no profile at {} (create one with `strongroom init`)",
                    self.cli.profile.display()
                )
            }
            other => other.into(),
        })
    }

    /// `profile passwd`: the current passphrase as for any command, the new
    /// one from `--new-passphrase-env`, `--remove` or the terminal.
    fn passwd(&self, new_env: Option<&str>, remove: bool) -> Result<()> {
        let mut profile = self.profile()?;
        let new = if remove {
            None
        } else if let Some(var) = new_env {
            Some(passphrase::from_env(var)?)
        } else if passphrase::can_prompt() {
            passphrase::prompt_new("New passphrase (empty: store the secret keys unsealed): ")?
        } else {
            return Err(Usage(
                "give the new passphrase with --new-passphrase-env VAR, or --remove, or run on a terminal to be asked".into(),
            )
            .into());
        };
        profile.set_passphrase(new.as_ref().map(|p| p.as_str()))?;
        if profile.is_sealed() {
            note!(
                "the secret keys in {} are sealed under the new passphrase",
                self.cli.profile.display()
            );
        } else {
            passphrase::warn_unsealed(&self.cli.profile);
        }
        Ok(())
    }

    /// The database, which must exist (a typo in a path must not start an
    /// empty one): only `init` and `migrate` create a missing SQLite file.
    /// The store of every command but `init` and `migrate`: an existing
    /// strongroom database, brought up to date. A database without the
    /// schema (a mistyped PostgreSQL database name, an empty SQLite file)
    /// is refused, never given one.
    fn store(&self) -> Result<Store> {
        let store = self.open_store(StoreOptions::default().without_migrations())?;
        // A private in-memory database of this process is always new, and
        // always made.
        if !store.is_in_memory() && !store.has_schema()? {
            bail!(
                "no strongroom database at {} ({})",
                store.redacted_url(),
                self.how_to_create()
            );
        }
        store.run_migrations()?;
        Ok(store)
    }

    fn open_store(&self, options: StoreOptions) -> Result<Store> {
        Store::open_with(&self.cli.db, options).map_err(|err| match err {
            strongroom::Error::NoDatabase { target } => {
                anyhow::anyhow!("no database at {target} ({})", self.how_to_create())
            }
            other => other.into(),
        })
    }

    /// How a missing database is made: `migrate` when the profile exists
    /// already (`init` would refuse it), else either.
    fn how_to_create(&self) -> &'static str {
        if self.cli.profile.exists() {
            "create it with `strongroom migrate`, or check --db"
        } else {
            "create it with `strongroom init` or `strongroom migrate`"
        }
    }

    fn client(&self) -> Result<Session> {
        // The database first: a wrong `--db` is the mistake to name, even
        // where there is no profile yet.
        let store = self.store()?;
        let profile = self.profile()?;
        // A database the profile knows already keeps its marks: adopting
        // it changes nothing, and must not say otherwise.
        let known = self.cli.adopt_database
            && store
                .database_id()
                .is_ok_and(|database| profile.knows_database(database));
        let client = Client::from_profile(profile, &store)?;
        if self.cli.adopt_database {
            let database = client.adopt_database()?;
            if known {
                note!(
                    "database {database} is this profile's already: its key version marks are kept (after restoring an older backup, `strongroom recovery restart-lineage` goes past a refused rollback)"
                );
            } else {
                note!(
                    "adopted database {database}: rollback protection for it restarts from the key versions it holds now"
                );
            }
        }
        Ok(Session(client))
    }

    fn init(&self, name: Option<&str>) -> Result<()> {
        // Everything that can be refused is checked before the database is
        // created: a failed `init` leaves no new database behind.
        if self.cli.profile.exists() {
            bail!(
                "profile {} already exists; refusing to overwrite it",
                self.cli.profile.display()
            );
        }
        if let Some(folder) = self
            .cli
            .profile
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
        {
            if !folder.is_dir() {
                bail!("the profile's folder {} does not exist", folder.display());
            }
        }
        let passphrase = match self.passphrase_from_env()? {
            Some(given) => Some(given),
            None if passphrase::can_prompt() => passphrase::prompt_new(
                "Passphrase for the new profile (empty: leave its secret keys unsealed): ",
            )?,
            None => None,
        };
        let store = self.open_store(StoreOptions::default().create_if_missing())?;
        let profile = Profile::create(&self.cli.profile, {
            let mut options = ProfileOptions::default();
            options.name = name;
            options.passphrase = passphrase.as_ref().map(|p| p.as_str());
            options
        })?;
        if !profile.is_sealed() {
            passphrase::warn_unsealed(&self.cli.profile);
        }
        let client = match Client::from_profile(profile, &store) {
            Ok(client) => client,
            Err(err) => {
                // Not registered: the new profile goes too, so that `init`
                // can simply be run again.
                let _ = std::fs::remove_file(&self.cli.profile);
                return Err(err.into());
            }
        };
        note!(
            "created profile {} and registered in {}",
            self.cli.profile.display(),
            store.redacted_url()
        );
        crate::out!("{}", client.id());
        Ok(())
    }

    fn recovery(&self, command: &RecoveryCommand) -> Result<()> {
        match command {
            RecoveryCommand::Create {
                out,
                recovery_passphrase_env,
            } => {
                let client = self.client()?;
                if out.exists() {
                    bail!("{} already exists; refusing to overwrite it", out.display());
                }
                let passphrase = match recovery_passphrase_env {
                    Some(var) => passphrase::from_env(var)?,
                    None if passphrase::can_prompt() => {
                        passphrase::prompt_new("Passphrase for the recovery profile: ")?
                            .ok_or_else(|| anyhow::anyhow!("a recovery profile must be sealed under a passphrase"))?
                    }
                    None => {
                        return Err(Usage(
                            "the recovery profile needs a passphrase: give it with --recovery-passphrase-env VAR, or run on a terminal to be asked".into(),
                        )
                        .into())
                    }
                };
                let previous = client.recovery_client();
                let name = format!("recovery for {}", client.id());
                let mut profile = Profile::create(
                    out,
                    ProfileOptions::named(&name).passphrase(passphrase.as_str()),
                )?;
                // The recovery profile pins the client it recovers (whose
                // keys are at hand only now), so that a restore works under
                // `trust verified` too, after that client's profile is lost.
                let set = profile
                    .pin(client.public())
                    .and_then(|()| Client::from_profile(profile, client.store()))
                    .and_then(|recovery| client.set_recovery_client(recovery.public()));
                let outcome = match set {
                    Ok(outcome) => outcome,
                    Err(err) => {
                        // Never made the recovery client: its profile goes,
                        // so that the command can simply be run again.
                        let _ = std::fs::remove_file(out);
                        return Err(err.into());
                    }
                };
                output::line(&json!({
                    "recovery_client": outcome.recovery_client.to_string(),
                    "record_types": outcome.record_types,
                    "skipped": outcome.skipped,
                }));
                note!(
                    "created the recovery profile {}: keep it offline, and its passphrase apart from it",
                    out.display()
                );
                if let Some(previous) = previous.filter(|p| *p != outcome.recovery_client) {
                    note!(
                        "replaced the recovery client {previous}: it keeps the keys and grants it holds (it can still read and restore the types it covered) until you revoke it from each type: strongroom revoke TYPE --from {previous}"
                    );
                }
                crate::out!("{}", outcome.recovery_client);
                Ok(())
            }
            RecoveryCommand::Restore {
                lost,
                to,
                fingerprint,
            } => {
                let lost = parse_client_id(lost)?;
                let to = parse_client_id(to)?;
                let fingerprint = fingerprint.as_deref().map(parse_fingerprint).transpose()?;
                let recovery = self.client()?;
                if let Some(fingerprint) = fingerprint {
                    recovery.pin_peer(to, &fingerprint)?;
                }
                // The listing is the database's word (unverified): each
                // type is restored on its own, and one whose grant does not
                // verify (a row the database made up, or a type that is
                // gone) does not stop the others.
                let record_types: std::collections::BTreeSet<String> = recovery
                    .incoming_shares()?
                    .into_iter()
                    .filter(|s| s.writer_id == lost && s.kind == strongroom::ShareKind::Authorize)
                    .map(|s| s.record_type)
                    .collect();
                if record_types.is_empty() {
                    bail!("this client is not the recovery client of {lost}: no record type of it is authorised to it");
                }
                let mut failed = Vec::new();
                for record_type in &record_types {
                    match recovery.share_on_behalf(lost, record_type, to) {
                        Ok(outcome) => output::line(&json!({
                            "restored": record_type, "writer": lost.to_string(), "to": to.to_string(),
                            "wrapped_keys": outcome.wrapped_keys,
                        })),
                        Err(err) => failed.push(format!("{record_type:?} ({err})")),
                    }
                }
                if !failed.is_empty() {
                    bail!(
                        "restored {} of {} record types; not restored: {}",
                        record_types.len() - failed.len(),
                        record_types.len(),
                        failed.join(", ")
                    );
                }
                Ok(())
            }
            RecoveryCommand::RestartLineage {
                record_type,
                readers,
            } => {
                let readers = readers
                    .iter()
                    .map(|r| parse_client_id(r))
                    .collect::<Result<Vec<_>>>()?;
                let client = self.client()?;
                let outcome = client.restart_key_lineage(record_type, &readers)?;
                output::line(&json!({
                    "restarted": record_type,
                    "new_key_version": outcome.new_version,
                    "readers": readers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "dropped": outcome.removed_readers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }));
                Ok(())
            }
        }
    }

    fn migrate(&self, status: bool) -> Result<()> {
        // `migrate` creates a missing SQLite file; `migrate --status` only
        // looks.
        let mut options = StoreOptions::default().without_migrations();
        if !status {
            options = options.create_if_missing();
        }
        let store = self.open_store(options)?;
        if status {
            let status = store.migration_status()?;
            for version in &status.applied {
                output::line(&json!({ "migration": version, "state": "applied" }));
            }
            for version in &status.pending {
                output::line(&json!({ "migration": version, "state": "pending" }));
            }
        } else {
            let applied = store.run_migrations()?;
            output::line(&json!({ "applied": applied }));
        }
        Ok(())
    }

    fn write(
        &self,
        record_type: &str,
        values: &Values,
        json_source: Option<&str>,
        index: &IndexArgs,
    ) -> Result<()> {
        if json_source == Some("-") && values::reads_stdin(&values.fields) {
            return Err(Usage("only one of --json - and -f NAME=- can read stdin".into()).into());
        }
        let mut fields = match json_source {
            None => Fields::new(),
            Some(source) => {
                let text = values::read_input(source, self.cli.max_field_size)?;
                values::json_fields(&text)?
            }
        };
        for (name, value) in values::field_pairs(&values.fields, self.cli.max_field_size)? {
            if fields.names().any(|given| given == name) {
                return Err(Usage(format!(
                    "field `{name}` is given by both --json and -f (one would silently win)"
                ))
                .into());
            }
            fields.insert(name, &value)?;
        }
        let plain: Plain = values::plain_pairs(&values.plain)?.into_iter().collect();
        sealed_and_plain_apart(&fields, &plain)?;
        search::check_args(
            index,
            Some(&fields.names().map(str::to_owned).collect()),
            &plain.keys().cloned().collect(),
        )?;
        let client = self.client()?;
        let declared = search::declare(&client, record_type, index)?;
        let meta = client.put(record_type, &fields, &plain)?;
        crate::out!("{}", meta.id);
        if let Some(declared) = &declared {
            search::after_declaring(&client, record_type, declared, true);
        }
        Ok(())
    }

    fn update(&self, id: &str, version: u64, values: &Values) -> Result<()> {
        let id = parse_record_id(id)?;
        let client = self.client()?;
        let current = client.get(id)?;
        if current.meta().file_size.is_some() {
            bail!(
                "record {id} is a file record, which `update` does not change: put the new body with `strongroom file put` and remove the old record with `strongroom delete {id} --version {}`",
                current.version()
            );
        }
        if current.version() != version {
            return Err(strongroom::Error::Conflict {
                record_id: Some(id),
                expected: Some(version),
                found: Some(current.version()),
            }
            .into());
        }
        // The fields not given are written back as stored, byte for byte:
        // through JSON values, a u128 would turn into a float and a padded
        // value lose its padding. A padded field given is padded again.
        let mut fields = current.to_fields()?;
        for (name, value) in values::field_pairs(&values.fields, self.cli.max_field_size)? {
            fields.insert_keeping_padding(name, &value)?;
        }
        let mut plain = current.meta().plain.clone();
        plain.extend(values::plain_pairs(&values.plain)?);
        sealed_and_plain_apart(&fields, &plain)?;
        let meta = client.update(id, version, &fields, &plain)?;
        output::line(&json!({ "id": meta.id.to_string(), "version": meta.version }));
        Ok(())
    }

    /// Rotates `record_type`'s key (re-wrapping existing records with
    /// `rewrap`) and prints what was done; `for_revoke` when a revocation
    /// fell back to it, which then reports no removed reader.
    fn rotate(
        &self,
        client: &Client,
        record_type: &str,
        rewrap: bool,
        for_revoke: bool,
    ) -> Result<()> {
        let outcome = client.rotate(record_type)?;
        if outcome.new_version.is_none() {
            // A mistyped type after a restore must not pass for a rotation.
            bail!("this client holds no key of record type `{record_type}`: nothing to rotate");
        }
        let report = rewrap.then(|| self.rewrap(client, record_type));
        output::line(&json!({
            "rotated": record_type, "new_key_version": outcome.new_version,
            "rewrapped": report.as_ref().map_or(0, |r| r.done.rewrapped),
        }));
        if for_revoke {
            output::line(&json!({ "removed_readers": [] }));
        }
        finish_rewrap(report, Some("rotation"), record_type)
    }

    /// Re-wraps the existing records of `record_type`, with a progress bar;
    /// never fails (an interruption is in the report).
    fn rewrap(&self, client: &Client, record_type: &str) -> RewrapReport {
        let bar = progress::bar(None, "re-wrapping");
        let report =
            client.rewrap_existing_report(record_type, strongroom::DEFAULT_REWRAP_BATCH, |done| {
                bar.set_position(done.rewrapped as u64);
            });
        bar.finish_and_clear();
        if report.done.invalid > 0 {
            note!(
                "warning: {} record(s) failed verification and were left as they were",
                report.done.invalid
            );
        }
        report
    }
}

/// What `ls` and `file ls` list: the query's filters, how many at most
/// (`None`: all), from which cursor, and whether to decrypt the fields.
pub struct Listing<'a> {
    pub record_type: Option<&'a str>,
    pub writers: &'a [String],
    pub all_writers: bool,
    pub plain: &'a [String],
    pub limit: Option<usize>,
    pub after: Option<&'a str>,
    pub data: bool,
}

impl Listing<'_> {
    /// The clients `--writer` names.
    pub fn writer_ids(&self) -> Result<Vec<ClientId>> {
        self.writers.iter().map(|w| parse_client_id(w)).collect()
    }

    /// The query, built before the client is opened, so a usage error is
    /// named first.
    pub fn query(&self) -> Result<Query> {
        if self.limit == Some(0) {
            return Err(Usage("--limit must be at least 1".into()).into());
        }
        let mut query = Query::new();
        if let Some(text) = self.after {
            let cursor = Cursor::parse(text).map_err(|_| {
                Usage("--after takes a cursor as an earlier `ls` printed it".into())
            })?;
            query = query.after(cursor);
        }
        if !self.data {
            query = query.meta_only();
        }
        if let Some(record_type) = self.record_type {
            query = query.record_type(record_type);
        }
        if self.all_writers {
            query = query.shared();
        }
        if !self.writers.is_empty() {
            query = query.writers(self.writer_ids()?);
        }
        for (name, value) in values::plain_pairs(self.plain)? {
            query = query.plain_eq(name, value);
        }
        Ok(query)
    }

    /// Prints the records of `query` that `keep` keeps, one JSON line
    /// each, page after page up to the limit; on stderr, how many matches
    /// could not be read and, when more remain, the cursor to go on from.
    pub fn print(
        &self,
        client: &Client,
        mut query: Query,
        keep: impl Fn(&Record) -> bool,
    ) -> Result<()> {
        // Pages of at most what is still to print, so a page that reaches
        // the limit ends exactly where the next `--after` starts (records
        // left out by `keep` only make pages print fewer).
        let (mut printed, mut discarded) = (0, 0);
        // Skipped records by why: no access, writer unknown or not
        // verified, failed verification.
        let mut skipped = [0usize; 3];
        let more = loop {
            let room = self.limit.map_or(usize::MAX, |limit| limit - printed);
            let page = client.query(&query.clone().limit(room.min(strongroom::MAX_PAGE_SIZE)))?;
            for skip in &page.skipped {
                skipped[match skip.reason {
                    strongroom::SkipReason::NoAccess => 0,
                    strongroom::SkipReason::UnknownWriter => 1,
                    _ => 2,
                }] += 1;
            }
            discarded += page.discarded;
            for record in page.records.iter().filter(|r| keep(r)) {
                output::record_line(record, self.data)?;
                printed += 1;
            }
            match page.next {
                // Nobody reads the rest.
                _ if output::reader_gone() => break None,
                Some(cursor) if self.limit.is_none_or(|limit| printed < limit) => {
                    query = query.after(cursor)
                }
                next => break next,
            }
        };
        let total: usize = skipped.iter().sum();
        if total > 0 {
            let [no_access, unknown_writer, invalid] = skipped;
            let why: Vec<String> = [
                (no_access, "no access key shared with this client"),
                (unknown_writer, "writer (or the client that shared its key) not registered, or not pinned under `trust verified`: see `strongroom pin`"),
                (invalid, "failed verification"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, reason)| format!("{n}: {reason}"))
            .collect();
            note!(
                "warning: {total} matching record(s) could not be read ({})",
                why.join("; ")
            );
        }
        if discarded > 0 {
            note!("discarded: {discarded} candidate(s) the index found whose values did not match (false positives of a truncated index)");
        }
        if let Some(cursor) = more {
            note!("more: --after {cursor}");
        }
        Ok(())
    }
}

/// Prints how a re-wrap went (if one ran), and fails if it was
/// interrupted: the key change before it (`after`, none for `rewrap`
/// itself) is committed all the same.
fn finish_rewrap(
    report: Option<RewrapReport>,
    after: Option<&str>,
    record_type: &str,
) -> Result<()> {
    let Some(report) = report else {
        return Ok(());
    };
    let done = report.done;
    output::line(&json!({
        "rewrap": {
            "rewrapped": done.rewrapped, "invalid": done.invalid, "batches": done.batches,
            "remaining": done.remaining,
            "interrupted": report.interrupted.as_ref().map(ToString::to_string),
        }
    }));
    match report.interrupted {
        None => Ok(()),
        // Refused, not interrupted: running it again meets the same refusal
        // (the error says the way on).
        Some(
            err @ (strongroom::Error::KeyRollback { .. }
            | strongroom::Error::DatabaseIdentityChanged { .. }),
        ) => Err(anyhow::Error::new(err).context(match after {
            Some(what) => format!(
                "the {what} is committed, but re-wrapping the existing records was refused"
            ),
            None => "re-wrapping was refused".to_owned(),
        })),
        Some(err) => Err(anyhow::Error::new(err).context(match after {
            Some(what) => format!(
                "the {what} is committed, but re-wrapping the existing records was interrupted after {} record(s); `strongroom rewrap {record_type}` goes on where it stopped",
                done.rewrapped
            ),
            None => format!(
                "re-wrapping was interrupted after {} record(s); run it again to go on",
                done.rewrapped
            ),
        })),
    }
}

pub fn parse_record_id(text: &str) -> Result<RecordId> {
    text.parse()
        .map_err(|_| Usage(format!("`{text}` is not a record id (a UUID)")).into())
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint> {
    text.parse().map_err(|_| {
        Usage(format!(
            "not a fingerprint: {text:?} (30 digits, as `strongroom whoami` prints it)"
        ))
        .into()
    })
}

pub fn parse_client_id(text: &str) -> Result<ClientId> {
    text.parse()
        .map_err(|_| Usage(format!("`{text}` is not a client id (a UUID)")).into())
}

/// A usage error for a name both sealed and plain meta: the plain copy
/// would keep in the clear what the sealed one protects.
fn sealed_and_plain_apart(fields: &Fields, plain: &Plain) -> Result<()> {
    match fields.names().find(|name| plain.contains_key(*name)) {
        Some(name) => Err(Usage(format!(
            "`{name}` is both a sealed field (-f/--json) and plain meta (-p): the plain copy would store it in the clear; give it once"
        ))
        .into()),
        None => Ok(()),
    }
}
