//! Rebuilds the store when a migration changes: `embed_migrations!` reads
//! files outside this package, which cargo does not track by itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
