//! Step 1: parse `#[sensitive(...)]` attributes, collecting every error.

use proc_macro2::Span;
use syn::{Attribute, LitStr, Path};

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

pub(crate) const STRUCT_SYNTAX: &str = "expected `#[sensitive(record_type = \"name\")]` or `#[sensitive(crate = \"path::to::strongroom\")]` on the struct (valid keys: record_type, crate)";
pub(crate) const FIELD_SYNTAX: &str =
    "expected `#[sensitive]` or `#[sensitive(rename = \"stored_name\")]` on a field (valid keys: rename)";

/// The struct's attributes.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) record_type: Option<LitStr>,
    /// `crate = "..."`: the path strongroom is reached by, when the user
    /// re-exports it. Every token carries the literal's span.
    pub(crate) krate: Option<Path>,
}

/// One field's attributes.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// Where `#[sensitive]` was written, if it was.
    pub(crate) sensitive: Option<Span>,
    pub(crate) rename: Option<LitStr>,
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
                let value: LitStr = meta.value()?.parse()?;
                if out.record_type.is_some() {
                    errors.spanned(value.span(), "duplicate `record_type`");
                }
                out.record_type = Some(value);
                Ok(())
            } else if meta.path.is_ident("crate") {
                let value: LitStr = meta.value()?.parse()?;
                if out.krate.is_some() {
                    errors.spanned(value.span(), "duplicate `crate`");
                }
                match crate_path(&value) {
                    Ok(path) => out.krate = Some(path),
                    Err(err) => errors.push(err),
                }
                Ok(())
            } else {
                Err(meta.error(format!("unknown key: {STRUCT_SYNTAX}")))
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
                        let value: LitStr = meta.value()?.parse()?;
                        if out.rename.is_some() {
                            errors.spanned(value.span(), "duplicate `rename`");
                        }
                        out.rename = Some(value);
                        Ok(())
                    } else {
                        Err(meta.error(format!("unknown key: {FIELD_SYNTAX}")))
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

fn attr_span(attr: &Attribute) -> Span {
    path_span(attr.path())
}

fn path_span(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}
