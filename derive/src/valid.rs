//! Step 3: check the model: names valid and unique, no lifetime parameters.

use std::collections::HashMap;

use crate::ast::Model;
use crate::attr::Errors;

const MAX_NAME: usize = 255;

fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_NAME {
        Some("is longer than 255 bytes")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    }
}

pub(crate) fn check(model: &Model<'_>, errors: &mut Errors) {
    // Type and const parameters are carried onto the impl. A lifetime
    // parameter is not: `from_record` builds an owned value from decrypted
    // data, so no field can borrow.
    for lifetime in model.generics.lifetimes() {
        errors.spanned(
            lifetime.lifetime.span(),
            format!(
                "#[derive(Sensitive)] does not support the lifetime parameter `{lt}`: a value is rebuilt from a decrypted record and cannot borrow from it; use owned fields (`String`, not `&{lt} str`)",
                lt = lifetime.lifetime
            ),
        );
    }
    // As the library's record type rule: no whitespace at either end (a
    // type that differs from another only by spaces would look the same
    // in every listing). The run-time check also refuses invisible
    // characters.
    let type_problem = name_problem(&model.record_type).or_else(|| {
        (model.record_type.trim() != model.record_type)
            .then_some("has leading or trailing whitespace")
    });
    if let Some(problem) = type_problem {
        errors.spanned(model.record_type_span, format!("the record type {problem}"));
    }
    // The generated filter is named `<Model>Filter`; inside the generated
    // code it hides a type of the same name that a field names without a
    // path, which would then not compile with an error about traits.
    let filter = format!("{}Filter", model.ident);
    for field in &model.fields {
        if names_unqualified(field.ty, &filter) {
            errors.spanned(
                syn::spanned::Spanned::span(field.ty),
                format!(
                    "a field's type names `{filter}`, the name of the filter #[derive(Sensitive)] generates for `{}`: write it with a path (`self::{filter}`, `crate::…::{filter}`) or rename it",
                    model.ident
                ),
            );
        }
    }
    let mut seen: HashMap<&str, &crate::ast::FieldModel<'_>> = HashMap::new();
    for field in &model.fields {
        if let Some(problem) = name_problem(&field.stored) {
            errors.spanned(field.stored_span, format!("the stored name {problem}"));
        }
        if let Some(first) = seen.get(field.stored.as_str()) {
            errors.spanned(
                field.stored_span,
                format!(
                    "duplicate stored name `{}`: field `{}` is already stored under it; give one `#[sensitive(rename = \"...\")]`",
                    field.stored, first.ident
                ),
            );
        } else {
            seen.insert(&field.stored, field);
        }
    }
    let mut index_names = std::collections::HashSet::new();
    for index in &model.indexes {
        if let Some(problem) = name_problem(&index.name) {
            errors.spanned(index.name_span, format!("the index name {problem}"));
        }
        if !index_names.insert(index.name.as_str()) {
            errors.spanned(
                index.name_span,
                format!(
                    "duplicate index name `{}`: give one `index(name = \"...\")`",
                    index.name
                ),
            );
        }
        let mut covered = index.fields.clone();
        covered.sort_unstable();
        covered.dedup();
        if covered.len() != index.fields.len() {
            errors.spanned(index.name_span, "an index names each field once");
        }
    }
}

/// Whether `ty` names `name` as a path of one segment anywhere in it
/// (`PatientFilter`, `Vec<PatientFilter>`), not after `::`.
fn names_unqualified(ty: &syn::Type, name: &str) -> bool {
    fn walk(tokens: proc_macro2::TokenStream, name: &str) -> bool {
        let mut after_colons = false;
        for token in tokens {
            match token {
                proc_macro2::TokenTree::Ident(ident) => {
                    if !after_colons && ident == name {
                        return true;
                    }
                    after_colons = false;
                }
                proc_macro2::TokenTree::Punct(punct) => after_colons = punct.as_char() == ':',
                proc_macro2::TokenTree::Group(group) => {
                    if walk(group.stream(), name) {
                        return true;
                    }
                    after_colons = false;
                }
                proc_macro2::TokenTree::Literal(_) => after_colons = false,
            }
        }
        false
    }
    walk(quote::ToTokens::to_token_stream(ty), name)
}
