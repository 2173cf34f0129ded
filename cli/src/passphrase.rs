//! Where a profile's passphrase comes from: the environment variable that
//! `--passphrase-env` names, or, when standard input is a terminal, a
//! prompt read from the terminal without echo. Passphrases live in
//! zeroized strings and are never printed.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

use crate::Usage;

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
///
/// A script may pass the passphrase itself where the variable's name
/// belongs: a "name" that is no variable name (letters, digits and `_`,
/// not starting with a digit) is a usage error, and errors repeat the name
/// only when it looks like a conventional one (capitals, digits and `_`),
/// so a mistaken passphrase is never printed.
pub fn from_env(var: &str) -> Result<Passphrase> {
    if !is_variable_name(var) {
        return Err(Usage(
            "a passphrase option takes the NAME of an environment variable that holds the passphrase (letters, digits and _), not the passphrase itself; what was given is not shown".into(),
        )
        .into());
    }
    let named = if is_conventional_name(var) {
        format!("the passphrase variable {var}")
    } else {
        "the passphrase variable named by the option".to_owned()
    };
    // The error never carries the value (`VarError::NotUnicode` would
    // print it).
    let value = Zeroizing::new(match std::env::var(var) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => bail!("{named} is not set"),
        Err(std::env::VarError::NotUnicode(raw)) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            bail!("{named} is not valid UTF-8")
        }
    });
    if value.is_empty() {
        bail!("{named} is empty");
    }
    Ok(value)
}

/// A POSIX environment variable name: ASCII letters, digits and `_`, not
/// starting with a digit.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name as variables are conventionally spelled (`ALICE_PASSPHRASE`):
/// safe to repeat in an error.
fn is_conventional_name(name: &str) -> bool {
    is_variable_name(name)
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Asks once on the terminal. Ctrl-C at the prompt (which the prompt
/// reads as a byte and raises itself) ends the tool only once the prompt
/// has put the terminal's echo back.
pub fn prompt(question: &str) -> Result<Passphrase> {
    let _restored_first = crate::interrupt::Guard::new(crate::interrupt::Signals::Interrupt);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variable_names_are_names_and_only_conventional_ones_are_repeated() {
        for name in ["PP", "ALICE_PASSPHRASE", "_X1", "alice_pp", "Pp"] {
            assert!(is_variable_name(name), "{name}");
        }
        for name in ["", "1PP", "correct horse", "n3w-s3cret", "pä", "a=b", "$PP"] {
            assert!(!is_variable_name(name), "{name}");
        }
        assert!(is_conventional_name("ALICE_PASSPHRASE"));
        assert!(!is_conventional_name("hunter2"));
        assert!(!is_conventional_name("Tr0ub4dor_3"));
    }

    #[test]
    fn a_passphrase_given_for_a_name_is_a_usage_error_that_does_not_show_it() {
        let err = from_env("correct horse battery staple").unwrap_err();
        assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
        assert!(!err.to_string().contains("horse"), "{err}");
        let err = from_env("hunter2_not_set_anywhere").unwrap_err();
        assert!(err.downcast_ref::<Usage>().is_none(), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}
