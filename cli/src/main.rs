//! `strongroom`, the command-line tool over the library.
//!
//! Exit status: 0 on success, 1 on any error (one line `error: …` on
//! stderr, no panic, no backtrace), 2 on usage errors.

mod cli;
mod commands;
mod files;
mod held_stderr;
mod import;
mod interrupt;
mod output;
mod partial;
mod passphrase;
mod progress;
mod search;
mod values;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::fmt::format::FmtSpan;

/// A usage error found after parsing (exit status 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return parse_failure(err),
    };
    init_logging(cli.verbose);
    // A bug must still end as one line and exit status 1; the panic's own
    // message is not printed (it is no place for data).
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| commands::run(cli));
    // Held stderr (default verbosity) is printed on success and becomes
    // part of the one error line on failure.
    let after = held_stderr::as_suffix;
    match outcome {
        Ok(Ok(())) => {
            held_stderr::release();
            ExitCode::SUCCESS
        }
        Ok(Err(err)) if err.downcast_ref::<Usage>().is_some() => {
            say_error(format_args!(
                "error: {}{}",
                printable(&err.to_string()),
                after()
            ));
            ExitCode::from(2)
        }
        Ok(Err(err)) => {
            say_error(format_args!("error: {}{}", one_line(&err), after()));
            ExitCode::from(1)
        }
        Err(_) => {
            say_error(format_args!(
                "error: internal error (a bug in strongroom; please report it){}",
                after()
            ));
            ExitCode::from(1)
        }
    }
}

/// The one error line on stderr. A stderr that is gone (a closed pipe)
/// loses the line, never the exit status (`eprintln!` would panic).
pub(crate) fn say_error(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether `RUST_LOG` asks for logs: set and not blank (an empty filter
/// would silence even the warnings, so blank is as if unset).
pub(crate) fn rust_log_set() -> bool {
    std::env::var("RUST_LOG").is_ok_and(|value| !value.trim().is_empty())
}

/// A command line clap refused: its own message (exit status 2, or 0 for
/// `--help` and `--version`), except that an unexpected argument that is
/// not an option is not echoed: it is most likely a value meant for `-f`
/// (`-f name "Ada Lovelace"`), and values may be secrets.
fn parse_failure(err: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::UnknownArgument {
        let names_an_option = matches!(
            err.get(ContextKind::InvalidArg),
            Some(ContextValue::String(arg)) if arg.starts_with("--")
        );
        if !names_an_option {
            say_error(format_args!(
                "error: unexpected argument (not shown: it may be a value); give each -f or -p as one argument, NAME=VALUE, quoted as a whole\n\nFor more information, try '--help'."
            ));
            return ExitCode::from(2);
        }
    }
    err.exit()
}

/// The error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    printable(&text)
}

/// `text` as one line that cannot drive a terminal: a line break is a
/// space, any other control character (an escape sequence, a carriage
/// return, from an argument or from the database) its escape, `\u{1b}`.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// Tracing output on stderr (colour only on a terminal): warnings by
/// default; `-v` info, `-vv` debug, or whatever `RUST_LOG` says. With `-v`
/// or `RUST_LOG` each operation's span is also logged as it closes, with
/// its fields (ids, record types, counts, `duration_ms`), and every event
/// is written as it happens. By default the warnings are held back (see
/// [`held_stderr`]) and printed at the end, or folded into the error
/// line.
fn init_logging(verbose: u8) {
    let from_env = rust_log_set()
        .then(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .flatten();
    let chosen = from_env.is_some() || verbose > 0;
    let spans = if chosen {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let filter = from_env.unwrap_or_else(|| {
        tracing_subscriber::EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        })
    });
    let format = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_target(false);
    if chosen {
        let _ = format
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    } else {
        held_stderr::hold();
        let _ = format
            .with_writer(|| held_stderr::HeldWriter)
            .with_ansi(false)
            .try_init();
    }
}
