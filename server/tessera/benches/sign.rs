//! One JWT signature as the token endpoint makes it: `Signer::sign` on the
//! key ring's current key, per algorithm, with the claims of a typical
//! `client_credentials` access token. It isolates what the key ring does per
//! token (header, claims, base64url, the signature) from HTTP and the
//! database, which `benches/token.rs` measures together.
//!
//! Run: `cargo bench -p tessera --bench sign`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::time::Duration;
use tessera::clock::{self, SystemClock};
use tessera::config::Config;
use tessera::keys::KeyRing;
use tessera_protocol::model::SigningAlg;

fn sign(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { data_dir: dir.path().to_owned(), issuer: Some("https://bench.example".into()), ..Config::default() };
    // Creates the database, the master key and a current key per algorithm.
    let ctx = tessera::commands::open(config).unwrap();
    let ring = KeyRing::new(ctx.store, ctx.master, Duration::from_secs(3600), 86_400, SystemClock::shared());
    let now = clock::now();
    let claims = json!({
        "iss": "https://bench.example",
        "sub": "svc-bench",
        "aud": "https://bench.api.example",
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": "Vx3kQ0m1Yb8cZr2LhT5pWa",
        "client_id": "0193b7e4-55a1-7c3e-9f1a-2d4e6b8c0a1f",
        "scope": "read",
    });
    let claims = claims.as_object().unwrap();
    let mut group = c.benchmark_group("sign");
    for alg in SigningAlg::ASYMMETRIC {
        let signer = ring.signer(alg).unwrap();
        group.bench_function(alg.as_str(), |b| b.iter(|| signer.sign("at+jwt", std::hint::black_box(claims)).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, sign);
criterion_main!(benches);
