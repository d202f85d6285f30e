//! Rebuilds when templates or assets change: askama and rust-embed read
//! files outside this package, which cargo does not track by itself.

fn main() {
    println!("cargo:rerun-if-changed=../../admin-ui");
}
