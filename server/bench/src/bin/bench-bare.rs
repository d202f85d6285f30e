//! The framework's ceiling for scripts/bench: an actix-web server whose one
//! handler takes a token-request-shaped form POST and answers a small JSON
//! body, with nothing else (no middleware, no database, no signature). What
//! the token endpoint does on top of this is Tessera's own cost, so the
//! benchmark's ES256 and EdDSA goals are stated against it (issue #13 item 5:
//! one bare request plus one signature per token).
//!
//! Usage: `bench-bare ADDRESS` (e.g. `127.0.0.1:8090`). Like `tessera serve`,
//! it starts one worker per CPU it may run on, so under `taskset -c 0` it has
//! one, as the server does.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};

/// The fields of a client_credentials request; both must be present, so
/// the form is parsed and checked as the real endpoint's would be.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    audience: String,
}

/// A token response of about the size of Tessera's minus the JWT.
#[derive(Serialize)]
struct TokenReply<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u32,
    audience: &'a str,
}

async fn token(form: web::Form<TokenForm>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(TokenReply {
        access_token: &form.grant_type,
        token_type: "Bearer",
        expires_in: 300,
        audience: &form.audience,
    })
}

fn main() -> anyhow::Result<()> {
    let Some(listen) = std::env::args().nth(1) else {
        anyhow::bail!("usage: bench-bare ADDRESS (e.g. 127.0.0.1:8090)");
    };
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| App::new().route("/token", web::post().to(token))).bind(&listen)?.run();
        eprintln!("bench-bare listening on {listen}; POST /token");
        server.await?;
        Ok(())
    })
}
