//! In-process tests of the OAuth services through the real public routes
//! (`web::public_routes`) over a temporary SQLite database, with a set
//! clock: no server process, no sleeping. They live under `web` because
//! they drive the HTTP layer; a service never imports `web`, not even in
//! its tests.

mod admins;
mod console;
mod device;
mod harness;
mod hot_path;
mod management;
mod oauth;
mod par;
mod rate_limit;
mod revocation;
mod shadow;
mod test_panel;
mod token_exchange;
