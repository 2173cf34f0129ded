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
