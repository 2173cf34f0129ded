//! `#[derive(Sensitive)]` for strongroom: marks which fields of a struct are
//! encrypted and generates the code that splits a value into sealed fields
//! and plain meta and rebuilds it, plus a filter over the plain fields.
//!
//! Four steps, one module each: `attr` parses the attributes, `ast`
//! builds the model, `valid` checks it, `expand` writes the code. Every
//! attribute error is reported at once, at its span; after errors the macro
//! still emits a stub impl so the user sees only the real mistakes.
//!
//! Use it through `strongroom::Sensitive` (re-exported there).
#![forbid(unsafe_code)]

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Derives `strongroom::Sensitive` for a struct with named fields.
///
/// ```text
/// #[derive(Sensitive)]
/// #[sensitive(record_type = "patient")]   // default: the struct name in snake_case
/// struct Patient {
///     clinic: String,                     // plain meta: clear, filterable
///     #[sensitive] name: String,          // encrypted
///     #[sensitive(rename = "hist")]       // stored under another name
///     history: Vec<Visit>,
/// }
/// ```
#[proc_macro_derive(Sensitive, attributes(sensitive))]
pub fn derive_sensitive(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
