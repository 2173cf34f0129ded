//! Step 2: the model of the annotated struct.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericArgument, Generics, Ident, Path, PathArguments, Type};

use crate::attr::{self, Errors, StructAttrs};

pub(crate) struct Model<'a> {
    /// The path generated code names strongroom by.
    pub(crate) krate: Path,
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) record_type: String,
    pub(crate) record_type_span: Span,
    pub(crate) fields: Vec<FieldModel<'a>>,
}

pub(crate) struct FieldModel<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) sensitive: bool,
    /// The name the field is stored under.
    pub(crate) stored: String,
    /// Where the stored name comes from (the `rename` literal or the field).
    pub(crate) stored_span: Span,
    /// `T` when the field's type is `Option<T>`.
    pub(crate) option_inner: Option<&'a Type>,
}

/// The path generated code names strongroom by: `crate = "..."` if given,
/// else `::strongroom`.
pub(crate) fn crate_path(attrs: &StructAttrs) -> Path {
    attrs
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::strongroom))
}

/// Builds the model from the struct and its parsed attributes; shape errors
/// (not a struct with named fields) are pushed to `errors` and give `None`.
pub(crate) fn model<'a>(
    input: &'a DeriveInput,
    attrs: &StructAttrs,
    errors: &mut Errors,
) -> Option<Model<'a>> {
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            Fields::Unnamed(_) | Fields::Unit => {
                errors.spanned(
                    input.ident.span(),
                    "#[derive(Sensitive)] needs a struct with named fields, like `struct Patient { #[sensitive] name: String }`",
                );
                None
            }
        },
        Data::Enum(data) => {
            errors.spanned(
                data.enum_token.span,
                "#[derive(Sensitive)] works on structs with named fields, not enums",
            );
            None
        }
        Data::Union(data) => {
            errors.spanned(
                data.union_token.span,
                "#[derive(Sensitive)] works on structs with named fields, not unions",
            );
            None
        }
    }?;
    let (record_type, record_type_span) = match &attrs.record_type {
        Some(lit) => (lit.value(), lit.span()),
        None => (
            snake_case(&input.ident.unraw().to_string()),
            input.ident.span(),
        ),
    };
    let fields = named
        .named
        .iter()
        .filter_map(|field| {
            let ident = field.ident.as_ref()?;
            let field_attrs = attr::field_attrs(&field.attrs, errors);
            if field_attrs.sensitive.is_none() && field_attrs.rename.is_some() {
                errors.spanned(ident.span(), "`rename` goes inside `#[sensitive(...)]`");
            }
            let (stored, stored_span) = match &field_attrs.rename {
                Some(lit) => (lit.value(), lit.span()),
                None => (ident.unraw().to_string(), ident.span()),
            };
            Some(FieldModel {
                ident,
                ty: &field.ty,
                sensitive: field_attrs.sensitive.is_some(),
                stored,
                stored_span,
                option_inner: option_inner(&field.ty),
            })
        })
        .collect();
    Some(Model {
        krate: crate_path(attrs),
        ident: &input.ident,
        generics: &input.generics,
        record_type,
        record_type_span,
        fields,
    })
}

/// `T` for a type written `Option<T>` (or `std::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
