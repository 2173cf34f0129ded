//! The blind indexes this client declared, by record type, and the types
//! whose indexes the planner already checked on a write of this client.
//! Computing and looking up index values is `search.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::error::{Error, Result};
use crate::index::IndexSpec;

/// Declared indexes by record type, and the planner's once-per-type mark.
#[derive(Default)]
pub(super) struct Declarations {
    declared: RwLock<HashMap<String, Arc<Vec<IndexSpec>>>>,
    planned: Mutex<HashSet<String>>,
}

impl Declarations {
    /// Replaces the declaration of `record_type` with `specs`, after
    /// checking each spec and that no two share a name (the record type's
    /// name is the caller's to check).
    pub(super) fn declare(&self, record_type: &str, specs: Vec<IndexSpec>) -> Result<()> {
        let mut names = BTreeSet::new();
        for spec in &specs {
            spec.check()?;
            if !names.insert(spec.name()) {
                return Err(Error::InvalidInput(
                    "two indexes of a type have the same name",
                ));
            }
        }
        self.declared
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record_type.to_owned(), Arc::new(specs));
        Ok(())
    }

    /// The declaration of `record_type`, if there is one.
    pub(super) fn of(&self, record_type: &str) -> Option<Arc<Vec<IndexSpec>>> {
        self.declared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(record_type)
            .cloned()
    }

    /// The declared index `name` of `record_type`.
    pub(super) fn index(&self, record_type: &str, name: &str) -> Option<IndexSpec> {
        self.of(record_type)
            .and_then(|specs| specs.iter().find(|s| s.name() == name).cloned())
    }

    /// Whether this is the first time a write of `record_type` asks the
    /// planner (true once per type and client).
    pub(super) fn first_plan(&self, record_type: &str) -> bool {
        self.planned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record_type.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> IndexSpec {
        IndexSpec::new(name, ["name"])
    }

    #[test]
    fn a_declaration_replaces_the_last_one_of_its_type() {
        let declarations = Declarations::default();
        assert!(declarations.of("patient").is_none());
        declarations
            .declare("patient", vec![spec("by_name"), spec("by_other")])
            .unwrap();
        declarations
            .declare("patient", vec![spec("by_name")])
            .unwrap();
        assert_eq!(declarations.of("patient").unwrap().len(), 1);
        assert!(declarations.index("patient", "by_name").is_some());
        assert!(declarations.index("patient", "by_other").is_none());
        assert!(declarations.index("visit", "by_name").is_none());
    }

    #[test]
    fn two_indexes_of_one_name_are_refused_and_change_nothing() {
        let declarations = Declarations::default();
        declarations
            .declare("patient", vec![spec("by_name")])
            .unwrap();
        let twice = declarations.declare("patient", vec![spec("dup"), spec("dup")]);
        assert!(matches!(twice, Err(Error::InvalidInput(_))));
        assert!(declarations.index("patient", "by_name").is_some());
    }

    #[test]
    fn the_planner_is_asked_once_per_type() {
        let declarations = Declarations::default();
        assert!(declarations.first_plan("patient"));
        assert!(!declarations.first_plan("patient"));
        assert!(declarations.first_plan("visit"));
    }
}
