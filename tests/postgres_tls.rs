//! TLS to PostgreSQL in the default build (libpq and OpenSSL built from
//! source by the `bundled-libpq` feature).
//!
//! Every test starts a PostgreSQL server of its own: a fresh data directory
//! in a temporary folder, a free port on 127.0.0.1, `ssl = on` with a
//! throwaway certificate authority made by the `openssl` command, and a
//! `pg_hba.conf` that accepts TLS connections only. The server is stopped
//! and its folder removed when the test ends.
//!
//! Needs `initdb`, `pg_ctl` and `openssl` (and, run as root, `runuser` and a
//! `postgres` account). Outside CI a missing tool skips the test with a loud
//! message; with `CI=true` it is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use strongroom::{Error, Store};

/// What the server presents and what clients may trust.
struct Pki {
    /// The authority that signed the server's certificate.
    ca: PathBuf,
    /// An authority that signed nothing the server has.
    other_ca: PathBuf,
}

/// A PostgreSQL server that accepts TLS connections only.
struct TlsServer {
    pg_ctl: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    port: u16,
    pki: Pki,
    // Dropped after `drop` has stopped the server.
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// A URL to this server's `postgres` database with `params` appended.
    fn url(&self, params: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{params}",
            self.port
        )
    }

    fn start(test: &str) -> Option<TlsServer> {
        let tools = match Tools::find() {
            Ok(tools) => tools,
            Err(err) => {
                skip(test, &format!("{err:#}"));
                return None;
            }
        };
        Some(Self::start_with(tools).expect("start a PostgreSQL server with ssl = on"))
    }

    fn start_with(tools: Tools) -> Result<TlsServer> {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-tls-")
            .tempdir()?;
        let root = dir.path().to_owned();
        let pki = make_pki(&tools.openssl, &root)?;
        let data = root.join("data");
        let port = free_port()?;
        if tools.as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres:").arg(&root))?;
        }
        run(tools
            .postgres_command(&tools.initdb)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data))?;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        writeln!(
            conf,
            "port = {port}\nlisten_addresses = '127.0.0.1,127.0.0.2'\nunix_socket_directories = '{root}'\n\
             ssl = on\nssl_cert_file = '{root}/server.crt'\nssl_key_file = '{root}/server.key'\n\
             fsync = off\nmax_connections = 20",
            root = root.display(),
        )?;
        // TLS or nothing: a plain-text connection matches no line.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.0/8 trust\n",
        )?;
        let log = root.join("server.log");
        let started = tools
            .postgres_command(&tools.pg_ctl)
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("start")
            .output()?;
        if !started.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "pg_ctl start failed: {}\n{log}",
                String::from_utf8_lossy(&started.stderr)
            );
        }
        Ok(TlsServer {
            pg_ctl: tools.pg_ctl,
            data,
            as_postgres: tools.as_postgres,
            port,
            pki,
            _dir: dir,
        })
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let mut stop = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
            command
        } else {
            Command::new(&self.pg_ctl)
        };
        let _ = stop
            .args(["-m", "immediate", "-w", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

/// The programs a test server needs.
struct Tools {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    openssl: PathBuf,
    /// PostgreSQL refuses to run as root: run it as `postgres` then.
    as_postgres: bool,
}

impl Tools {
    fn find() -> Result<Tools> {
        let initdb = find_program("initdb")?;
        let pg_ctl = find_program("pg_ctl")?;
        let openssl = find_program("openssl")?;
        let uid = Command::new("id").arg("-u").output()?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            find_program("runuser")?;
            let account = Command::new("id").arg("-u").arg("postgres").output()?;
            ensure!(
                account.status.success(),
                "running as root and there is no `postgres` account to run the server as"
            );
        }
        Ok(Tools {
            initdb,
            pg_ctl,
            openssl,
            as_postgres,
        })
    }

    fn postgres_command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

/// `name` on PATH, else in the newest `/usr/lib/postgresql/*/bin`.
fn find_program(name: &str) -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if let Some(found) = on_path {
        return Ok(found);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|candidate| candidate.is_file())
        .collect();
    versions.sort();
    versions.pop().with_context(|| {
        format!("`{name}` is not installed (not on PATH nor in /usr/lib/postgresql/*/bin)")
    })
}

/// A throwaway authority, a server certificate it signed for 127.0.0.1 and
/// localhost, and a second authority that signed nothing.
fn make_pki(openssl: &Path, dir: &Path) -> Result<Pki> {
    let authority = |name: &str| -> Result<PathBuf> {
        let cert = dir.join(format!("{name}.crt"));
        run(Command::new(openssl)
            .current_dir(dir)
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj"])
            .arg(format!("/CN=strongroom test {name}"))
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(format!("{name}.key"))
            .arg("-out")
            .arg(&cert))?;
        Ok(cert)
    };
    let ca = authority("ca")?;
    let other_ca = authority("other-ca")?;
    run(Command::new(openssl)
        .current_dir(dir)
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]))?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )?;
    run(Command::new(openssl)
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
        ])
        .args([
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]))?;
    // PostgreSQL refuses a key file others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(Pki { ca, other_ca })
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn run(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: cannot start a TLS PostgreSQL server: {why} (CI=true: this is a failure)");
    }
    // Past the harness's capture, so the skip shows even when the test passes.
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n!!!!!!!! SKIPPED `{test}`: cannot start a TLS PostgreSQL server: {why} !!!!!!!!\n"
    );
}

#[derive(QueryableByName)]
struct SslRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ssl: bool,
}

/// Whether this session runs over TLS, as the server sees it.
fn session_uses_tls(url: &str) -> Result<bool> {
    let mut conn = PgConnection::establish(url)?;
    let row: SslRow = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut conn)?;
    Ok(row.ssl)
}

/// The reason in a refused [`Store::open`].
fn connect_reason(result: strongroom::Result<Store>) -> String {
    match result {
        Err(Error::Connect { reason, .. }) => reason,
        Err(other) => panic!("expected Error::Connect, got {other:?}"),
        Ok(_) => panic!("the connection was accepted"),
    }
}

#[test]
fn sslmode_require_opens_a_store_over_tls() -> Result<()> {
    let Some(server) = TlsServer::start("sslmode_require_opens_a_store_over_tls") else {
        return Ok(());
    };
    let url = server.url("sslmode=require");
    let store = Store::open(&url)?;
    store.database_id()?;
    ensure!(
        session_uses_tls(&url)?,
        "pg_stat_ssl says the session is not encrypted"
    );
    Ok(())
}

#[test]
fn verify_full_with_the_servers_authority_opens_a_store() -> Result<()> {
    let Some(server) = TlsServer::start("verify_full_with_the_servers_authority_opens_a_store")
    else {
        return Ok(());
    };
    let url = server.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        server.pki.ca.display()
    ));
    Store::open(&url)?.database_id()?;
    ensure!(
        session_uses_tls(&url)?,
        "pg_stat_ssl says the session is not encrypted"
    );
    Ok(())
}

#[test]
fn verify_full_refuses_a_certificate_another_authority_signed() {
    let Some(server) =
        TlsServer::start("verify_full_refuses_a_certificate_another_authority_signed")
    else {
        return;
    };
    let url = server.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        server.pki.other_ca.display()
    ));
    let reason = connect_reason(Store::open(&url));
    assert!(
        reason.contains("certificate verify failed"),
        "libpq's reason should reach the error: {reason}"
    );
}

#[test]
fn verify_full_refuses_a_host_the_certificate_does_not_name() {
    let Some(server) = TlsServer::start("verify_full_refuses_a_host_the_certificate_does_not_name")
    else {
        return;
    };
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2 (which
    // reaches the same loopback server).
    let url = server
        .url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            server.pki.ca.display()
        ))
        .replace("127.0.0.1", "127.0.0.2");
    let reason = connect_reason(Store::open(&url));
    assert!(
        reason.contains("does not match host name"),
        "libpq's reason should reach the error: {reason}"
    );
}

#[test]
fn a_server_that_requires_tls_refuses_sslmode_disable() {
    let Some(server) = TlsServer::start("a_server_that_requires_tls_refuses_sslmode_disable")
    else {
        return;
    };
    let reason = connect_reason(Store::open(&server.url("sslmode=disable")));
    assert!(
        reason.contains("no encryption"),
        "libpq's reason should reach the error: {reason}"
    );
}

/// The environment variable that makes this test binary, run again as a
/// child, do the child's half of the system-store test.
const CHILD_URL: &str = "STRONGROOM_TLS_TEST_CHILD_URL";

#[test]
fn sslrootcert_system_trusts_the_file_ssl_cert_file_names() -> Result<()> {
    // The child: SSL_CERT_FILE was set before the process started (setting
    // it in a running, threaded test process would race).
    if let Ok(url) = std::env::var(CHILD_URL) {
        Store::open(&url)?.database_id()?;
        return Ok(());
    }
    let Some(server) = TlsServer::start("sslrootcert_system_trusts_the_file_ssl_cert_file_names")
    else {
        return Ok(());
    };
    let url = server.url("sslmode=verify-full&sslrootcert=system");
    let child = |trusted: &Path| {
        Command::new(std::env::current_exe()?)
            .args([
                "sslrootcert_system_trusts_the_file_ssl_cert_file_names",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_URL, &url)
            .env("SSL_CERT_FILE", trusted)
            .env_remove("SSL_CERT_DIR")
            .output()
    };
    let trusted = child(&server.pki.ca)?;
    ensure!(
        trusted.status.success(),
        "with SSL_CERT_FILE naming the server's authority, sslrootcert=system should connect:\n{}{}",
        String::from_utf8_lossy(&trusted.stdout),
        String::from_utf8_lossy(&trusted.stderr)
    );
    let untrusted = child(&server.pki.other_ca)?;
    ensure!(
        !untrusted.status.success(),
        "with SSL_CERT_FILE naming another authority, sslrootcert=system must refuse"
    );
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&untrusted.stdout),
        String::from_utf8_lossy(&untrusted.stderr)
    );
    ensure!(
        output.contains("certificate verify failed"),
        "the child's failure should be the certificate check:\n{output}"
    );
    Ok(())
}

/// The environment variable that makes this test binary, run again as a
/// child, open a store over TLS and end at once.
const EXIT_CHILD_URL: &str = "STRONGROOM_TLS_EXIT_CHILD_URL";

/// Children run by the exit test: before OpenSSL was started without its
/// exit handler, about one in fifteen died of SIGSEGV, so forty catch a
/// regression with high probability (not certainty: it is a race).
const EXIT_CHILDREN: usize = 40;

#[test]
fn a_process_that_ends_while_the_pool_connects_over_tls_exits_cleanly() -> Result<()> {
    // The child: a read takes the pool's idle connection, so the pool opens
    // another over TLS in the background while the process ends.
    if let Ok(url) = std::env::var(EXIT_CHILD_URL) {
        Store::open(&url)?.database_id()?;
        return Ok(());
    }
    let Some(server) =
        TlsServer::start("a_process_that_ends_while_the_pool_connects_over_tls_exits_cleanly")
    else {
        return Ok(());
    };
    let url = server.url("sslmode=require");
    for run in 1..=EXIT_CHILDREN {
        let child = Command::new(std::env::current_exe()?)
            .args([
                "a_process_that_ends_while_the_pool_connects_over_tls_exits_cleanly",
                "--exact",
                "--test-threads=1",
            ])
            .env(EXIT_CHILD_URL, &url)
            .output()?;
        ensure!(
            child.status.success(),
            "child {run} of {EXIT_CHILDREN} ended with {} (a signal here is OpenSSL's exit handler freeing its state under a pool thread):\n{}{}",
            child.status,
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
    }
    Ok(())
}
