//! The dashboard, the console's home: where this server is (issuer,
//! discovery and JWKS URLs to copy), a first-run checklist ticked from real
//! data, how much is configured, how fast and how often each plugin fails
//! on this node, and recent sign-ins kept apart from recent changes.

use super::logs::RunLinks;
use super::names::Link;
use super::{Admin, Layout, Page, PageQuery, blocking, filters, render};
use crate::service::admin::names::AuditRow;
use crate::service::admin::{self, Dashboard};
use crate::service::views::AuditEventView;
use crate::web::routes::{self, console as paths};
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::relative(paths::HOME), web::get().to(dashboard)).route("/", web::get().to(dashboard));
}

/// The URLs an application developer asks for first, as (element id,
/// label, URL): the issuer, its discovery document and its public keys.
fn server_urls(issuer: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("issuer-url", "Issuer", issuer.to_owned()),
        ("discovery-url", "Discovery", format!("{issuer}{}", routes::OPENID_CONFIGURATION)),
        ("jwks-url", "JWKS (public keys)", crate::web::oauth::endpoints(issuer).jwks),
    ]
}

/// One step of the first-run checklist.
struct Step {
    /// The element id (`step-api`), for tests and links.
    id: &'static str,
    /// What to do.
    label: &'static str,
    /// Why it matters, in a few words.
    help: &'static str,
    /// Done, judged from what the database holds.
    done: bool,
    /// Where to do it.
    href: String,
}

/// The first-run checklist, in the order a new server is set up: an API to
/// issue tokens for, a client to ask for them, a plugin and a binding that
/// runs it, then a token request that runs the plugin.
fn checklist(d: &Dashboard) -> Vec<Step> {
    let test = match &d.some_plugin {
        Some(name) => paths::action(&paths::plugin(name), "test"),
        None => paths::PLUGINS.to_owned(),
    };
    vec![
        Step {
            id: "step-api",
            label: "Add an API",
            help: "its identifier is the tokens' audience",
            done: d.apis > 0,
            href: paths::NEW_API.to_owned(),
        },
        Step {
            id: "step-client",
            label: "Add a client",
            help: "the application that asks for tokens",
            done: d.clients > 0,
            href: paths::NEW_CLIENT.to_owned(),
        },
        Step {
            id: "step-plugin",
            label: "Upload a plugin",
            help: "a WebAssembly component that shapes tokens",
            done: d.plugins > 0,
            href: paths::PLUGINS.to_owned(),
        },
        Step {
            id: "step-binding",
            label: "Bind the plugin",
            help: "choose the grant types and clients it runs for",
            done: d.bindings > 0,
            href: paths::NEW_BINDING.to_owned(),
        },
        Step {
            id: "step-test",
            label: "Test it",
            help: "try it in the test panel, then request a token that runs it",
            done: d.plugin_ran,
            href: test,
        },
    ]
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    l: Layout,
    d: Dashboard,
    /// `d.events` taken out with their targets as links.
    changes: Vec<(AuditRow, Option<Link>)>,
    /// `d.failures` taken out with their plugin, binding and client as links.
    failures: Vec<RunLinks>,
    urls: Vec<(&'static str, &'static str, String)>,
    steps: Vec<Step>,
}

impl DashboardPage {
    /// True once every step of the checklist is done: the page then folds
    /// the checklist away.
    fn set_up(&self) -> bool {
        self.steps.iter().all(|s| s.done)
    }

    /// How a sign-in step reads in the "Result" column: its words and its
    /// badge's class (`ok`, `bad`).
    fn sign_in_result(&self, e: &AuditEventView) -> (&'static str, &'static str) {
        match e.action.as_str() {
            // A password accepted while a second factor is still to come
            // (`service::console`'s `second_factor` detail) is half a sign-in.
            "admin.login" if second_factor_pending(&e.detail) => ("password accepted", "ok"),
            "admin.login" => ("signed in", "ok"),
            "admin.login.locked" => ("locked", "bad"),
            "admin.second_factor.failed" => ("second factor failed", "bad"),
            "admin.second_factor.passkey" => ("passkey accepted", "ok"),
            "admin.second_factor.recovery" => ("recovery code used", "ok"),
            _ => ("failed", "bad"),
        }
    }
}

/// Whether an `admin.login` event's detail says a second factor was asked
/// for next.
fn second_factor_pending(detail: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(detail).is_ok_and(|d| !d["second_factor"].is_null())
}

async fn dashboard(admin: Admin, q: web::Query<PageQuery>) -> Page {
    let store = admin.state.store.clone();
    let figures = admin.state.plugin_figures.clone();
    let mut d = blocking(move || admin::dashboard(&store, &figures)).await??;
    let l = Layout::new(&admin, "dashboard", "Dashboard").with_done(q.done.as_deref());
    let urls = server_urls(&admin.state.issuer);
    let steps = checklist(&d);
    let changes = std::mem::take(&mut d.events)
        .into_iter()
        .map(|r| {
            let target = r.target.as_ref().map(Link::from);
            (r, target)
        })
        .collect();
    let failures = std::mem::take(&mut d.failures).into_iter().map(RunLinks::from).collect();
    Ok(render(StatusCode::OK, &DashboardPage { l, d, changes, failures, urls, steps }))
}
