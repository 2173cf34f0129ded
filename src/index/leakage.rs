//! What the database learns of each field of a record type.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::ClientId;
use crate::index::planner::{plan, Plan, PlanWarning};

/// A field of a model or record type, as its writer declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelField {
    /// The stored name.
    pub name: String,
    /// Sealed (`#[sensitive]`) or plain meta.
    pub sealed: bool,
}

impl ModelField {
    /// A sealed (`#[sensitive]`) field called `name`.
    pub fn sealed(name: impl Into<String>) -> Self {
        ModelField {
            name: name.into(),
            sealed: true,
        }
    }

    /// A plain meta field called `name`.
    pub fn plain(name: impl Into<String>) -> Self {
        ModelField {
            name: name.into(),
            sealed: false,
        }
    }
}

/// What the database learns of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldClass {
    /// Sealed, in no index: nothing but the value's size.
    Sealed,
    /// Sealed and covered by these indexes (name, bits): which records
    /// have equal values, at that many bits, plus the size.
    Indexed {
        /// The indexes covering it, with the bits each keeps.
        indexes: Vec<(String, u16)>,
    },
    /// Plain meta: the value itself.
    Plain,
}

/// One field and what the database learns of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldLeakage {
    /// The field.
    pub name: String,
    /// What the database learns.
    pub class: FieldClass,
}

/// An index as stored: one writer's index of a record type, with the key
/// versions it has live values under.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexInfo {
    /// The index's name.
    pub name: String,
    /// The writer whose records it indexes.
    pub writer_id: ClientId,
    /// The fields it covers, in order.
    pub fields: Vec<String>,
    /// Bits kept (at its newest version).
    pub bits: u16,
    /// Its normaliser's stored name (`none`, `lowercase`, `trim`,
    /// `custom:…`).
    pub normalizer: String,
    /// Live index versions (key versions), oldest first.
    pub versions: Vec<u32>,
}

/// One index and what the planner says of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IndexLeakage {
    /// The index's name.
    pub name: String,
    /// The fields it covers.
    pub fields: Vec<String>,
    /// The planner's view. Over the index's own entries when it has any:
    /// its values are keyed per writer and key version, so only records of
    /// one such group can share a value; the plan is that of the smallest
    /// group when equality leaks exactly there, else of the largest (see
    /// [`IndexLeakage::per_group`]). Over every record of the type when
    /// it has none yet.
    pub plan: Plan,
    /// Whether [`IndexLeakage::plan`] counts one writer's entries at one
    /// key version (`false`: every record of the type, no entry yet).
    pub per_group: bool,
}

/// What the database learns of a record type: each field's class, each
/// index with the planner's view. `Display` prints one line each, then
/// one `warning:` line per planner warning.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Leakage {
    /// The record type.
    pub record_type: String,
    /// Records of the type counted (every writer's).
    pub records: u64,
    /// Every field, by name.
    pub fields: Vec<FieldLeakage>,
    /// Every index, by name.
    pub indexes: Vec<IndexLeakage>,
}

impl Leakage {
    /// What the database learns of field `name`, if the report lists it.
    pub fn field(&self, name: &str) -> Option<&FieldClass> {
        self.fields
            .iter()
            .find(|field| field.name == name)
            .map(|field| &field.class)
    }

    /// Builds the report from the fields, the indexes (name, fields, bits)
    /// and each index's entry counts per writer and key version (`groups`:
    /// (index name, entries), any number per name).
    pub(crate) fn build(
        record_type: &str,
        records: u64,
        fields: impl IntoIterator<Item = ModelField>,
        indexes: impl IntoIterator<Item = (String, Vec<String>, u16)>,
        groups: &[(String, u64)],
    ) -> Leakage {
        let indexes: BTreeMap<String, (Vec<String>, u16)> = indexes
            .into_iter()
            .map(|(name, fields, bits)| (name, (fields, bits)))
            .collect();
        // Plain in any record is plain: the database reads it there.
        let mut by_name: BTreeMap<String, bool> = BTreeMap::new();
        for field in fields {
            *by_name.entry(field.name).or_insert(true) &= field.sealed;
        }
        // A field only an index names is sealed too (indexes cover sealed
        // fields).
        for (fields, _) in indexes.values() {
            for field in fields {
                by_name.entry(field.clone()).or_insert(true);
            }
        }
        let fields = by_name
            .into_iter()
            .map(|(name, sealed)| {
                let covering: Vec<(String, u16)> = indexes
                    .iter()
                    .filter(|(_, (fields, _))| fields.contains(&name))
                    .map(|(index, (_, bits))| (index.clone(), *bits))
                    .collect();
                let class = if !sealed {
                    FieldClass::Plain
                } else if covering.is_empty() {
                    FieldClass::Sealed
                } else {
                    FieldClass::Indexed { indexes: covering }
                };
                FieldLeakage { name, class }
            })
            .collect();
        let indexes = indexes
            .into_iter()
            .map(|(name, (fields, bits))| {
                let sizes = groups.iter().filter(|(n, _)| *n == name).map(|(_, n)| *n);
                let (plan, per_group) = match (sizes.clone().min(), sizes.max()) {
                    (Some(smallest), Some(largest)) => {
                        let small = plan(smallest, bits);
                        if small.warning == Some(PlanWarning::EqualityLeaksExactly) {
                            (small, true)
                        } else {
                            (plan(largest, bits), true)
                        }
                    }
                    _ => (plan(records, bits), false),
                };
                IndexLeakage {
                    name,
                    fields,
                    plan,
                    per_group,
                }
            })
            .collect();
        Leakage {
            record_type: record_type.to_owned(),
            records,
            fields,
            indexes,
        }
    }

    /// Logs each planner warning at WARN.
    pub(crate) fn log_warnings(&self) {
        for index in &self.indexes {
            if let Some(warning) = index.plan.warning {
                tracing::warn!(
                    record_type = %self.record_type,
                    index = %index.name,
                    bits = index.plan.bits,
                    records = index.plan.records,
                    expected_per_value = index.plan.expected_per_value,
                    "{warning}"
                );
            }
        }
    }
}

impl fmt::Display for Leakage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "record type {}: {} records",
            self.record_type, self.records
        )?;
        for field in &self.fields {
            match &field.class {
                FieldClass::Sealed => writeln!(
                    f,
                    "field {}: sealed; the database learns its size only",
                    field.name
                )?,
                FieldClass::Indexed { indexes } => {
                    let list: Vec<String> = indexes
                        .iter()
                        .map(|(name, bits)| format!("{name} at {bits} bits"))
                        .collect();
                    writeln!(
                        f,
                        "field {}: sealed and indexed ({}); the database learns its size and which records share an index value",
                        field.name,
                        list.join(", ")
                    )?
                }
                FieldClass::Plain => writeln!(
                    f,
                    "field {}: plain; the database learns the value",
                    field.name
                )?,
            }
        }
        for index in &self.indexes {
            write!(
                f,
                "index {} over {}: {} bits, about {:.2} records share a value",
                index.name,
                index.fields.join(", "),
                index.plan.bits,
                index.plan.expected_per_value
            )?;
            if index.per_group {
                write!(
                    f,
                    " (among the {} entries of one writer's index at one key version)",
                    index.plan.records
                )?;
            }
            writeln!(f)?;
        }
        for index in &self.indexes {
            if let Some(warning) = index.plan.warning {
                writeln!(f, "warning: index {}: {warning}", index.name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_gets_its_class_and_the_planner_warns() {
        let report = Leakage::build(
            "patient",
            1000,
            [
                ModelField::plain("clinic"),
                ModelField::sealed("ssn"),
                ModelField::sealed("notes"),
            ],
            [("ssn".to_owned(), vec!["ssn".to_owned()], 16)],
            &[],
        );
        let text = report.to_string();
        assert!(text.contains("field clinic: plain"), "{text}");
        assert!(
            text.contains("field notes: sealed; the database learns its size only"),
            "{text}"
        );
        assert!(
            text.contains("field ssn: sealed and indexed (ssn at 16 bits)"),
            "{text}"
        );
        assert!(
            text.contains("warning: index ssn: fewer than 2 records"),
            "{text}"
        );
    }
}
