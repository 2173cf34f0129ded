//! Derive macros for strongroom (`#[derive(Sensitive)]` arrives with the
//! typed repository).
#![forbid(unsafe_code)]
