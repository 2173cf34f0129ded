//! Where a profile's passphrase comes from: the environment variable that
//! `--passphrase-env` names, or, when standard input is a terminal, a
//! prompt read from the terminal without echo. Passphrases live in
//! zeroized strings and are never printed.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

/// A passphrase, wiped from memory when dropped.
pub type Passphrase = Zeroizing<String>;

/// How to give a sealed profile's passphrase, for error messages.
pub const HOW_TO_GIVE: &str = "give it with --passphrase-env VAR (VAR holding the passphrase), or run on a terminal to be asked";

/// Whether a prompt can be answered: standard input is a terminal. (A
/// command reading data from standard input, `-f name=-`, gets no prompt:
/// use `--passphrase-env` there.)
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal()
}

/// The passphrase in the environment variable `var` (which must be set and
/// not empty).
pub fn from_env(var: &str) -> Result<Passphrase> {
    // The error never carries the value (`VarError::NotUnicode` would
    // print it).
    let value = Zeroizing::new(match std::env::var(var) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => bail!("the passphrase variable {var} is not set"),
        Err(std::env::VarError::NotUnicode(raw)) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            bail!("the passphrase variable {var} is not valid UTF-8")
        }
    });
    if value.is_empty() {
        bail!("the passphrase variable {var} is empty");
    }
    Ok(value)
}

/// Asks once on the terminal.
pub fn prompt(question: &str) -> Result<Passphrase> {
    rpassword::prompt_password(question)
        .map(Zeroizing::new)
        .context("could not read the passphrase from the terminal")
}

/// Asks for a new passphrase twice; `None` when it is left empty. Two
/// different answers are an error and change nothing.
pub fn prompt_new(question: &str) -> Result<Option<Passphrase>> {
    let first = prompt(question)?;
    if first.is_empty() {
        return Ok(None);
    }
    let again = prompt("Repeat the passphrase: ")?;
    if *first != *again {
        bail!("the two passphrases differ; nothing was changed");
    }
    Ok(Some(first))
}

/// The warning for secret keys stored in the clear, as a tracing warning:
/// the CLI's log output prints it on stderr (one line), and a log collector
/// keeps it.
pub fn warn_unsealed(profile: &std::path::Path) {
    tracing::warn!(
        "the secret keys in {} are not sealed under a passphrase: the file's permissions are their only protection (seal them with `strongroom profile passwd`)",
        profile.display()
    );
}
