//! Feature unification only; see this crate's `Cargo.toml`. Nothing here is
//! meant to be used.
