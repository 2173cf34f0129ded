//! The index planner: how many records share an index value, and what
//! that means for leakage and lookup cost.
//!
//! With `R` records and an index that keeps `bits` bits, a value is shared
//! by about `C = R / 2^bits` records. Below 2, most values belong to one
//! record: the database learns exactly which records are equal (and the
//! index tells equal values apart as well as the full hash would). Far
//! above [`MAX_CANDIDATES`], every lookup fetches and decrypts that many
//! candidates to return the few that match.

/// Bits an index keeps unless told otherwise: what [`bits_for`] picks for
/// about 1,000,000 records (about 15 records share a value there; 2 or
/// more from 131,072 records up, under 1,000 up to 65 million).
pub const DEFAULT_BITS: u16 = 16;
/// The candidates per lookup above which the planner warns that lookups
/// scan too much.
pub const MAX_CANDIDATES: f64 = 1000.0;
/// The records per value below which the planner warns that equality
/// leaks exactly.
pub const MIN_SHARED: f64 = 2.0;
/// The records per value [`bits_for`] aims at (between 8 and 16).
const AIM: u64 = 8;

/// What the planner says of an index at a record count.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Plan {
    /// Records counted.
    pub records: u64,
    /// Bits kept.
    pub bits: u16,
    /// Expected records sharing one index value: `records / 2^bits`.
    pub expected_per_value: f64,
    /// What is wrong, if anything.
    pub warning: Option<PlanWarning>,
}

/// A planner warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanWarning {
    /// Fewer than 2 records share a value: the index reveals which records
    /// are equal, exactly. Keep fewer bits.
    EqualityLeaksExactly,
    /// More than [`MAX_CANDIDATES`] records share a value: each lookup
    /// decrypts that many candidates. Keep more bits.
    LookupsScanTooMuch,
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlanWarning::EqualityLeaksExactly => {
                "fewer than 2 records share an index value: equality leaks exactly (keep fewer bits)"
            }
            PlanWarning::LookupsScanTooMuch => {
                "more than 1000 records share an index value: lookups decrypt too many candidates (keep more bits)"
            }
        })
    }
}

/// The planner's view of an index keeping `bits` bits over `records`
/// records.
///
/// ```
/// use strongroom::index::{plan, PlanWarning};
/// assert_eq!(plan(1_000_000, 16).warning, None);             // about 15 per value
/// assert_eq!(plan(1_000, 16).warning, Some(PlanWarning::EqualityLeaksExactly));
/// assert_eq!(plan(1_000_000, 4).warning, Some(PlanWarning::LookupsScanTooMuch));
/// ```
pub fn plan(records: u64, bits: u16) -> Plan {
    let expected_per_value = records as f64 / 2f64.powi(i32::from(bits));
    let warning = if expected_per_value < MIN_SHARED {
        Some(PlanWarning::EqualityLeaksExactly)
    } else if expected_per_value > MAX_CANDIDATES {
        Some(PlanWarning::LookupsScanTooMuch)
    } else {
        None
    };
    Plan {
        records,
        bits,
        expected_per_value,
        warning,
    }
}

/// The bits that make about 8 to 16 of `records` records share a value
/// (at least 1, at most 64).
///
/// ```
/// assert_eq!(strongroom::index::bits_for(1_000_000), 16);
/// assert_eq!(strongroom::index::bits_for(100_000), 13);
/// assert_eq!(strongroom::index::bits_for(10), 1);
/// ```
pub fn bits_for(records: u64) -> u16 {
    let per = (records / AIM).max(2);
    // floor(log2(per)), 1 to 63 for a u64.
    (63 - per.leading_zeros() as u16).clamp(1, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_what_the_planner_picks_for_a_million() {
        assert_eq!(bits_for(1_000_000), DEFAULT_BITS);
        for records in [1_000u64, 100_000, 1_000_000, 50_000_000] {
            let p = plan(records, bits_for(records));
            assert!(
                p.expected_per_value >= 8.0 && p.expected_per_value < 16.0,
                "{p:?}"
            );
            assert_eq!(p.warning, None);
        }
    }
}
