//! Step 2: the model of the annotated struct.

use proc_macro2::Span;
use quote::format_ident;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, GenericArgument, Generics, Ident, Path, PathArguments, Type};

use crate::attr::{self, Errors, IndexAttr, NormalizeAttr, StructAttrs};

pub(crate) struct Model<'a> {
    /// The path generated code names strongroom by.
    pub(crate) krate: Path,
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) record_type: String,
    pub(crate) record_type_span: Span,
    pub(crate) fields: Vec<FieldModel<'a>>,
    pub(crate) indexes: Vec<IndexModel>,
}

/// A blind index of the model.
pub(crate) struct IndexModel {
    /// Its name (a single-field index: the field's stored name).
    pub(crate) name: String,
    pub(crate) name_span: Span,
    /// The fields it covers, as positions in `Model::fields`, in order.
    pub(crate) fields: Vec<usize>,
    pub(crate) bits: Option<u16>,
    pub(crate) normalize: Option<NormalizeAttr>,
    /// The generated filter method: `<field>_eq` or `<name>_eq`.
    pub(crate) method: Option<Ident>,
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
    /// `pad = N`: the block its sealed JSON is padded to.
    pub(crate) pad: Option<usize>,
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
    // One entry per field in `fields`, in the same order.
    let mut field_indexes: Vec<Option<IndexAttr>> = Vec::new();
    let fields: Vec<FieldModel<'a>> = named
        .named
        .iter()
        .filter_map(|field| {
            let ident = field.ident.as_ref()?;
            let mut field_attrs = attr::field_attrs(&field.attrs, errors);
            field_indexes.push(field_attrs.index.take());
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
                pad: field_attrs.pad,
            })
        })
        .collect();
    let indexes = index_models(&fields, field_indexes, &attrs.indexes, errors);
    Some(Model {
        krate: crate_path(attrs),
        ident: &input.ident,
        generics: &input.generics,
        record_type,
        record_type_span,
        fields,
        indexes,
    })
}

/// The model's indexes: each field's `#[sensitive(index)]`, then the
/// struct's compound ones, whose fields are named by their Rust names and
/// must be sensitive.
fn index_models(
    fields: &[FieldModel<'_>],
    field_indexes: Vec<Option<IndexAttr>>,
    compound: &[IndexAttr],
    errors: &mut Errors,
) -> Vec<IndexModel> {
    let mut out = Vec::new();
    for (position, index) in field_indexes.into_iter().enumerate() {
        let Some(index) = index else { continue };
        let field = &fields[position];
        let (name, name_span) = match &index.name {
            Some(lit) => (lit.value(), lit.span()),
            None => (field.stored.clone(), field.stored_span),
        };
        out.push(IndexModel {
            name,
            name_span,
            fields: vec![position],
            bits: index.bits.map(|(bits, _)| bits),
            normalize: index.normalize,
            method: Some(format_ident!(
                "{}_eq",
                field.ident.unraw(),
                span = field.ident.span()
            )),
        });
    }
    for index in compound {
        let Some(name) = &index.name else { continue };
        let mut positions = Vec::new();
        for lit in &index.fields {
            match fields
                .iter()
                .position(|f| f.ident.unraw() == lit.value().as_str())
            {
                Some(p) if fields[p].sensitive => positions.push(p),
                Some(_) => errors.spanned(
                    lit.span(),
                    format!(
                        "`{}` is a plain field: an index covers sensitive fields only (plain fields are filtered by their own methods)",
                        lit.value()
                    ),
                ),
                None => errors.spanned(
                    lit.span(),
                    format!("no field `{}` in this struct", lit.value()),
                ),
            }
        }
        // Letters, digits and `_` only: `r#x` would parse as a raw
        // identifier, which `Ident::new` refuses (a panic, not an error).
        let plain_name = name
            .value()
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_');
        let method = match syn::parse_str::<Ident>(&format!("{}_eq", name.value())) {
            Ok(ident) if plain_name => Some(Ident::new(&ident.to_string(), name.span())),
            _ => {
                errors.spanned(
                    name.span(),
                    "a compound index's name must make a method name (`<name>_eq`): letters, digits and `_`",
                );
                None
            }
        };
        out.push(IndexModel {
            name: name.value(),
            name_span: name.span(),
            fields: positions,
            bits: index.bits.map(|(bits, _)| bits),
            normalize: index.normalize.clone(),
            method,
        });
    }
    out
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
