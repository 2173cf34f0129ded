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
#[cfg(test)]
mod tests;
mod valid;

use proc_macro::TokenStream;

/// Derives `strongroom::Sensitive` for a struct with named fields (at
/// least one). Its record type follows the library's rule (1 to 255
/// bytes, no control or invisible characters, no whitespace at either
/// end), checked here at compile time.
///
/// ```text
/// #[derive(Sensitive)]
/// #[sensitive(record_type = "patient")]   // default: the struct name in snake_case
/// struct Patient {
///     clinic: String,                     // plain meta: clear, filterable
///     #[sensitive] name: String,          // encrypted
///     #[sensitive(rename = "hist")]       // stored under another name
///     history: Vec<Visit>,
///     #[sensitive(pad = 64)]              // sealed padded to a multiple of 64 bytes
///     referrer: Option<String>,
/// }
/// ```
///
/// `pad = N` (1 to 65,536) seals the field's JSON followed by at least one
/// space, up to a multiple of `N` bytes (`strongroom::Fields::insert_padded`),
/// so that `None` and any value shorter than `N` bytes seal to the same size.
///
/// A sensitive field's value must decode back into its own type: one that
/// would not (a `u128` or `i128` behind `#[serde(flatten)]` or in an
/// internally tagged or untagged enum, which serde buffers without 128-bit
/// integers) is `strongroom::Error::InvalidInput` at the write, with
/// nothing written. `#[serde(...)]` attributes on the model's own fields
/// are not applied: fields are stored under their Rust names (or
/// `rename`), and a `#[serde(skip)]` plain field is stored in the clear
/// like any other.
///
/// Every generated trait impl is marked `#[automatically_derived]`.
///
/// # Blind indexes (equality search on sensitive fields)
///
/// ```text
/// #[derive(Sensitive)]
/// #[sensitive(index(name = "by_name_dob", fields = ["last_name", "dob"], normalize = "lowercase"))]
/// struct Person {
///     #[sensitive(index)] ssn: String,                        // ssn_eq(..)
///     #[sensitive(index(bits = 20, normalize = "lowercase"))]  // email_eq(..)
///     email: String,
///     #[sensitive(index(normalize = digits_only))]            // a fn(&str) -> String
///     phone: String,
///     #[sensitive] last_name: String,
///     #[sensitive] dob: String,                               // by_name_dob_eq(.., ..)
/// }
/// ```
///
/// - `index` on a sensitive field: an index named after the field's
///   stored name, and a filter method `<field>_eq(value)`. Options:
///   `bits = N` (1 to 256; default `strongroom::index::DEFAULT_BITS`, see
///   the planner), `normalize = "lowercase" | "trim" | "none" |
///   path::to::function`, `name = "..."` (the index's name).
/// - `index(name = "...", fields = ["a", "b"])` on the struct: a compound
///   index over sensitive fields (Rust names, in order) and a filter
///   method `<name>_eq(a, b)`; same options.
/// - A custom normaliser is known by its path as written (stored with the
///   index): readers and later versions of the model must name it by the
///   same path, and two different functions must never be written alike
///   (two models of one record type in two modules, each naming its own
///   `digits`, would be taken for one normaliser: the first model's is
///   used). Write a unique path, `crate::normalise::digits`.
/// - A sensitive field without `index` has no `_eq` method: filtering on it
///   does not compile. `Client::repo` declares the model's indexes.
///
/// # Struct attributes
///
/// - `record_type = "name"`: the record type records are stored under.
/// - `index(name = "...", fields = [...], ...)`: a compound index (above).
/// - `crate = "path::to::strongroom"`: the path the generated code names
///   strongroom by, for a crate that uses strongroom through a re-export
///   (like serde's `#[serde(crate = "...")]`). With
///   `#[sensitive(crate = "my_app::strongroom")]` the impl is of
///   `my_app::strongroom::Sensitive`, and so on for every path; the default
///   is `::strongroom`. The string must be a module path.
///
/// # Generic structs
///
/// Type and const parameters are supported; their bounds and the
/// where-clause are carried onto the impl, and the generated filter takes
/// the same parameters (it owns no `T`, so it is `Default`, `Clone`,
/// `Debug`, `Send` and `Sync` for every `T`). The derive adds no bounds of
/// its own: declare the ones the fields need, `T: Serialize +
/// DeserializeOwned` for a `#[sensitive]` field of type `T`, `T: PlainValue`
/// for a plain one.
///
/// ```text
/// #[derive(Sensitive)]
/// #[sensitive(record_type = "labelled")]
/// struct Labelled<T: Serialize + DeserializeOwned> {
///     label: String,
///     #[sensitive] value: T,
/// }
/// ```
///
/// **Every instantiation shares one record type.** `RECORD_TYPE` is a
/// constant of the impl and cannot depend on `T`: `Labelled<Visit>` and
/// `Labelled<Invoice>` are both stored as `"labelled"`, so a query through
/// either reads the records of both (and fails on those that do not decode
/// as its `T`). Use one instantiation per record type, or better, a
/// non-generic struct per record type, each with its own `record_type`.
///
/// Lifetime parameters are refused at compile time: a value is rebuilt by
/// `from_record` from a decrypted record and cannot borrow from it, so a
/// model owns its fields (`String`, not `&'a str`).
#[proc_macro_derive(Sensitive, attributes(sensitive))]
pub fn derive_sensitive(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
