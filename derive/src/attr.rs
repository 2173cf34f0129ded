//! Step 1: parse `#[sensitive(...)]` attributes, collecting every error.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, LitInt, LitStr, Path};

/// Errors collected across the whole input, reported together.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn into_result(self) -> Result<(), syn::Error> {
        self.first.map_or(Ok(()), Err)
    }
}

pub(crate) const STRUCT_SYNTAX: &str = "expected `#[sensitive(record_type = \"name\")]`, `#[sensitive(crate = \"path::to::strongroom\")]` or `#[sensitive(index(name = \"by_x_y\", fields = [\"x\", \"y\"]))]` on the struct (valid keys: record_type, crate, index)";
pub(crate) const FIELD_SYNTAX: &str =
    "expected `#[sensitive]`, `#[sensitive(rename = \"stored_name\")]`, `#[sensitive(pad = 64)]` or `#[sensitive(index)]` on a field (valid keys: rename, pad, index)";
pub(crate) const INDEX_SYNTAX: &str = "expected `index` or `index(bits = 16, normalize = \"lowercase\" | \"trim\" | path::to::function)` (valid keys: bits, normalize, and on the struct name and fields)";

/// The largest `pad`: the library's `Fields::MAX_PAD_BLOCK`.
const MAX_PAD_BLOCK: usize = 65_536;

/// How an index normalises values: a built-in by name, or a function.
#[derive(Clone)]
pub(crate) enum NormalizeAttr {
    /// `"none"`, `"lowercase"` or `"trim"`, with the literal's span.
    Builtin(String, Span),
    /// A path to a `fn(&str) -> String`.
    Custom(Path),
}

/// One `index` or `index(...)`.
pub(crate) struct IndexAttr {
    /// Where `index` was written.
    pub(crate) span: Span,
    /// `name = "..."`: the index's name (a compound index's is required).
    pub(crate) name: Option<LitStr>,
    /// `fields = ["a", "b"]`: a compound index's fields (struct only).
    pub(crate) fields: Vec<LitStr>,
    /// `bits = N`, checked to be 1 to 256.
    pub(crate) bits: Option<(u16, Span)>,
    pub(crate) normalize: Option<NormalizeAttr>,
    /// A key of it did not parse (its error is reported): what it lacks
    /// is not reported again.
    pub(crate) malformed: bool,
}

/// The struct's attributes.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) record_type: Option<LitStr>,
    /// `crate = "..."`: the path strongroom is reached by, when the user
    /// re-exports it. Every token carries the literal's span.
    pub(crate) krate: Option<Path>,
    /// Compound indexes: `index(name = "...", fields = [...])`.
    pub(crate) indexes: Vec<IndexAttr>,
}

/// One field's attributes.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// Where `#[sensitive]` was written, if it was.
    pub(crate) sensitive: Option<Span>,
    pub(crate) rename: Option<LitStr>,
    /// `pad = N`: the sealed JSON is padded to a multiple of N bytes,
    /// checked to be 1 to 65,536.
    pub(crate) pad: Option<usize>,
    /// `index` or `index(...)`: a blind index over this field.
    pub(crate) index: Option<IndexAttr>,
}

fn is_sensitive(attr: &Attribute) -> bool {
    attr.path().is_ident("sensitive")
}

pub(crate) fn struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> StructAttrs {
    let mut out = StructAttrs::default();
    for attr in attrs.iter().filter(|a| is_sensitive(a)) {
        if let syn::Meta::Path(path) = &attr.meta {
            errors.spanned(path_span(path), STRUCT_SYNTAX);
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("record_type") {
                let Some(value) = key_value::<LitStr>(&meta, errors)? else {
                    return Ok(());
                };
                if out.record_type.is_some() {
                    errors.spanned(value.span(), "duplicate `record_type`");
                }
                out.record_type = Some(value);
                Ok(())
            } else if meta.path.is_ident("crate") {
                let Some(value) = key_value::<LitStr>(&meta, errors)? else {
                    return Ok(());
                };
                if out.krate.is_some() {
                    errors.spanned(value.span(), "duplicate `crate`");
                }
                match crate_path(&value) {
                    Ok(path) => out.krate = Some(path),
                    Err(err) => errors.push(err),
                }
                Ok(())
            } else if meta.path.is_ident("index") {
                let index = index_attr(&meta, true, errors)?;
                if !index.malformed && (index.name.is_none() || index.fields.is_empty()) {
                    errors.spanned(
                        index.span,
                        "an index on the struct needs a name and its fields: `index(name = \"by_x_y\", fields = [\"x\", \"y\"])`",
                    );
                }
                out.indexes.push(index);
                Ok(())
            } else {
                unknown_key(&meta, STRUCT_SYNTAX, errors)
            }
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    out
}

/// The literal of `crate = "..."` as a module path (no generic arguments),
/// or an error at the literal.
fn crate_path(lit: &LitStr) -> syn::Result<Path> {
    lit.parse_with(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`crate = {:?}` is not a path: expected `#[sensitive(crate = \"my_app::strongroom\")]`, the path strongroom is re-exported at",
                lit.value()
            ),
        )
    })
}

pub(crate) fn field_attrs(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| is_sensitive(a)) {
        if out.sensitive.is_some() {
            errors.spanned(attr_span(attr), "duplicate `#[sensitive]` attribute");
        }
        out.sensitive = Some(attr_span(attr));
        match &attr.meta {
            syn::Meta::Path(_) => {}
            syn::Meta::NameValue(nv) => errors.spanned(nv.eq_token.span, FIELD_SYNTAX),
            syn::Meta::List(_) => {
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("rename") {
                        let Some(value) = key_value::<LitStr>(&meta, errors)? else {
                            return Ok(());
                        };
                        if out.rename.is_some() {
                            errors.spanned(value.span(), "duplicate `rename`");
                        }
                        out.rename = Some(value);
                        Ok(())
                    } else if meta.path.is_ident("pad") {
                        let Some(lit) = key_value::<LitInt>(&meta, errors)? else {
                            return Ok(());
                        };
                        match lit.base10_parse::<usize>() {
                            Ok(block) if (1..=MAX_PAD_BLOCK).contains(&block) => {
                                if out.pad.is_some() {
                                    errors.spanned(lit.span(), "duplicate `pad`");
                                }
                                out.pad = Some(block);
                            }
                            _ => errors.spanned(
                                lit.span(),
                                "`pad` pads to a multiple of 1 to 65536 bytes",
                            ),
                        }
                        Ok(())
                    } else if meta.path.is_ident("index") {
                        let index = index_attr(&meta, false, errors)?;
                        if out.index.is_some() {
                            errors.spanned(index.span, "duplicate `index`");
                        }
                        out.index = Some(index);
                        Ok(())
                    } else {
                        unknown_key(&meta, FIELD_SYNTAX, errors)
                    }
                });
                if let Err(err) = result {
                    errors.push(err);
                }
            }
        }
    }
    out
}

/// Parses `index` or `index(...)`; `on_struct` allows `fields`.
fn index_attr(
    meta: &syn::meta::ParseNestedMeta<'_>,
    on_struct: bool,
    errors: &mut Errors,
) -> syn::Result<IndexAttr> {
    let mut out = IndexAttr {
        span: path_span(&meta.path),
        name: None,
        fields: Vec::new(),
        bits: None,
        normalize: None,
        malformed: false,
    };
    if !meta.input.peek(syn::token::Paren) {
        if meta.input.peek(syn::Token![=]) {
            errors.push(meta.error(INDEX_SYNTAX));
            out.malformed = true;
            skip_to_next_key(meta.input)?;
        }
        return Ok(out);
    }
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("bits") {
            let Some(lit) = key_value::<LitInt>(&inner, errors)? else {
                out.malformed = true;
                return Ok(());
            };
            match lit.base10_parse::<u16>() {
                Ok(bits) if (1..=256).contains(&bits) => {
                    if out.bits.is_some() {
                        errors.spanned(lit.span(), "duplicate `bits`");
                    }
                    out.bits = Some((bits, lit.span()));
                }
                _ => errors.spanned(lit.span(), "an index keeps 1 to 256 bits"),
            }
            Ok(())
        } else if inner.path.is_ident("normalize") {
            let value = match inner.value() {
                Ok(value) => value,
                Err(err) => {
                    errors.push(err);
                    out.malformed = true;
                    return skip_to_next_key(inner.input);
                }
            };
            let normalize = if value.peek(LitStr) {
                let lit: LitStr = value.parse()?;
                match lit.value().as_str() {
                    "none" | "lowercase" | "trim" => NormalizeAttr::Builtin(lit.value(), lit.span()),
                    other => {
                        errors.spanned(
                            lit.span(),
                            format!("unknown normaliser `{other}`: expected \"lowercase\", \"trim\", \"none\" or a path to a `fn(&str) -> String`"),
                        );
                        NormalizeAttr::Builtin("none".into(), lit.span())
                    }
                }
            } else {
                match value.call(Path::parse_mod_style) {
                    Ok(path) => NormalizeAttr::Custom(path),
                    Err(_) => {
                        errors.spanned(
                            inner.path.span(),
                            "`normalize` takes \"lowercase\", \"trim\", \"none\" or a path to a `fn(&str) -> String`",
                        );
                        out.malformed = true;
                        return skip_to_next_key(value);
                    }
                }
            };
            if out.normalize.is_some() {
                errors.spanned(inner.path.span(), "duplicate `normalize`");
            }
            out.normalize = Some(normalize);
            Ok(())
        } else if inner.path.is_ident("name") {
            let Some(lit) = key_value::<LitStr>(&inner, errors)? else {
                out.malformed = true;
                return Ok(());
            };
            if out.name.is_some() {
                errors.spanned(lit.span(), "duplicate `name`");
            }
            out.name = Some(lit);
            Ok(())
        } else if on_struct && inner.path.is_ident("fields") {
            let list = match inner.value().and_then(|value| {
                let content;
                syn::bracketed!(content in value);
                syn::punctuated::Punctuated::<LitStr, syn::Token![,]>::parse_terminated(&content)
            }) {
                Ok(list) => list,
                Err(_) => {
                    errors.spanned(
                        inner.path.span(),
                        "`fields` takes a list of field names: `fields = [\"a\", \"b\"]`",
                    );
                    out.malformed = true;
                    return skip_to_next_key(inner.input);
                }
            };
            if !out.fields.is_empty() {
                errors.spanned(inner.path.span(), "duplicate `fields`");
            }
            out.fields = list.into_iter().collect();
            Ok(())
        } else {
            out.malformed = true;
            unknown_key(&inner, INDEX_SYNTAX, errors)
        }
    })?;
    Ok(out)
}

/// An unknown key's error, collected; its tokens (`= value`, `(...)`)
/// are passed over so that the keys after it are still read.
fn unknown_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    syntax: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    errors.push(meta.error(format!("unknown key: {syntax}")));
    skip_to_next_key(meta.input)
}

/// The `= value` of a key, parsed as `T`; a value that does not parse is
/// collected as an error (and passed over), so that the keys after it are
/// still read.
fn key_value<T: syn::parse::Parse>(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<T>> {
    let input = match meta.value() {
        Ok(input) => input,
        Err(err) => {
            errors.push(err);
            skip_to_next_key(meta.input)?;
            return Ok(None);
        }
    };
    match input.parse::<T>() {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            errors.push(err);
            skip_to_next_key(input)?;
            Ok(None)
        }
    }
}

/// Passes over the tokens up to the next `,` of the attribute's list (a
/// group, such as `(...)` or `[...]`, is one token). A value (after an
/// `=` or not) that is a type, such as `Vec<u8, A>`, is passed over
/// whole, its commas included;
/// anything else ends at the first `,` (so that after `a < b, pad = 0`
/// the `pad` is still read).
fn skip_to_next_key(input: syn::parse::ParseStream<'_>) -> syn::Result<()> {
    use syn::parse::discouraged::Speculative;
    let fork = input.fork();
    if fork.peek(syn::Token![=]) {
        fork.parse::<syn::Token![=]>()?;
    }
    if fork.parse::<syn::Type>().is_ok() && (fork.is_empty() || fork.peek(syn::Token![,])) {
        input.advance_to(&fork);
        return Ok(());
    }
    while !input.is_empty() && !input.peek(syn::Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

fn attr_span(attr: &Attribute) -> Span {
    path_span(attr.path())
}

fn path_span(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}
