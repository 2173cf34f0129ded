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
    // A model with no field writes records that hold nothing, and an
    // update through it could not tell what it does not know (it lists no
    // field, as a hand-written model that lists none): refused here.
    if model.fields.is_empty() {
        errors.spanned(
            model.ident.span(),
            "#[derive(Sensitive)] needs at least one field: a model stores its fields, sealed (`#[sensitive]`) or plain",
        );
    }
    // As the library's record type rule: no whitespace at either end and
    // no invisible character (a type that differs from another only by
    // spaces, or by a character that shows as nothing, would look the
    // same in every listing), so that every write does not refuse it.
    let type_problem = name_problem(&model.record_type)
        .or_else(|| {
            (model.record_type.trim() != model.record_type)
                .then_some("has leading or trailing whitespace")
        })
        .or_else(|| {
            model
                .record_type
                .chars()
                .any(invisible)
                .then_some("contains an invisible character (one that shows as nothing)")
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
    // The filter's methods: one per plain field (its name), one per index
    // (`<field>_eq`, `<name>_eq`). Two of one name would be rustc's
    // "duplicate definitions", far from the attribute that caused it.
    let mut methods: HashMap<String, String> = HashMap::new();
    for field in model.fields.iter().filter(|f| !f.sensitive) {
        methods.insert(
            syn::ext::IdentExt::unraw(field.ident).to_string(),
            format!("plain field `{}`", field.ident),
        );
    }
    let mut named_once = std::collections::HashSet::new();
    for index in &model.indexes {
        // A second index of one name is reported as such below.
        if !named_once.insert(index.name.as_str()) {
            continue;
        }
        let Some(method) = &index.method else {
            continue;
        };
        let name = syn::ext::IdentExt::unraw(method).to_string();
        match methods.get(&name) {
            Some(first) => errors.spanned(
                index.name_span,
                format!(
                    "the filter method `{name}` of index `{}` is already the filter method of {first}: rename the field or give the index another name",
                    index.name
                ),
            ),
            None => {
                methods.insert(name, format!("index `{}`", index.name));
            }
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

/// Unicode's default-ignorable code points, which the library refuses in
/// a record type: the same table as `invisible` in the library's
/// `src/client/validate.rs` (a test there keeps the two equal).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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
