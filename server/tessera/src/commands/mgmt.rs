//! `mgmt-client` commands: bootstrap clients of the management API on the
//! server's own machine (the first one cannot be made over the API itself).

use super::{Context, output};
use crate::cli::MgmtClientCommand;
use crate::service::admin::split_list;
use crate::service::management::create_management_client;
use crate::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
use anyhow::anyhow;
use serde_json::json;

const ACTOR: &str = "cli";

/// `tessera mgmt-client ...`
pub fn mgmt_client(ctx: &Context, cmd: MgmtClientCommand) -> anyhow::Result<()> {
    match cmd {
        MgmtClientCommand::Create(a) => {
            let scopes = match a.scopes.as_deref() {
                None => ManagementScope::ALL.to_vec(),
                Some(list) => split_list(list)
                    .iter()
                    .map(|s| {
                        ManagementScope::parse(s).ok_or_else(|| {
                            let known: Vec<&str> = ManagementScope::ALL.iter().map(|s| s.as_str()).collect();
                            anyhow!("scopes: unknown scope {s:?}; known: {}", known.join(", "))
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            };
            let issuer = ctx.config.issuer();
            let (client, secret) = create_management_client(
                &ctx.store,
                &ctx.master,
                ACTOR,
                &a.name,
                &scopes,
                ctx.config.tokens.access_token_lifetime_secs,
            )?;
            let audience = MANAGEMENT_AUDIENCE;
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            output(
                a.json,
                &json!({
                    "client_id": client.id,
                    "client_secret": secret.expose(),
                    "name": client.name,
                    "audience": audience,
                    "scopes": names,
                }),
                &format!(
                    "created management client {}\nclient_id:     {}\nclient_secret: {}\n(the secret is shown only now; store it safely)\n\
                     get a token: POST {issuer}{} grant_type=client_credentials audience={audience} scope=\"{}\"",
                    client.name,
                    client.id,
                    secret.expose(),
                    crate::web::routes::TOKEN,
                    names.join(" ")
                ),
            );
        }
    }
    Ok(())
}
