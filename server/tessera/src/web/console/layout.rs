//! What every console page shares: the layout around the content, the
//! renderers (page, form, bare message, one-time secret, redirect), and the
//! template filters.

use super::Admin;
use super::permissions::{self, Need};
use crate::service::roles::Role;
use crate::web::routes::console::HOME;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use askama::Template;

/// What every console page shows around its content.
pub struct Layout {
    /// The page title (before " · Tessera console").
    pub title: String,
    /// The nav entry to highlight.
    pub section: &'static str,
    /// The signed-in administrator's name.
    pub admin: String,
    /// The session's CSRF token, for the forms on the page.
    pub csrf: String,
    /// A confirmation after a change.
    pub notice: Option<String>,
    /// A failure not tied to one field.
    pub error: Option<String>,
    /// The administrator's role: the menu shows only what it opens.
    pub role: Role,
}

impl Layout {
    /// True when this administrator's role opens the page at `path` (a GET
    /// route of [`permissions::ROUTES`]): the menu leaves out the others
    /// rather than leading to the 403 page.
    pub fn opens(&self, path: &str) -> bool {
        match permissions::need("GET", path) {
            Some(Need::Scope(scope)) => self.role.allows(scope),
            Some(Need::Public | Need::SignedIn) => true,
            None => false,
        }
    }

    /// The layout for a page of `admin`'s session.
    pub fn new(admin: &Admin, section: &'static str, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            section,
            admin: admin.session.admin.username.clone(),
            csrf: admin.session.csrf.clone(),
            notice: None,
            error: None,
            role: admin.session.role(),
        }
    }

    /// With a notice chosen by a `?done=` key (never text from the URL).
    pub fn with_done(mut self, done: Option<&str>) -> Layout {
        self.notice = done.and_then(notice).map(str::to_owned);
        self
    }
}

/// The confirmations a redirect can ask for.
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "password" => "Password changed.",
        "disabled" => "Disabled.",
        "enabled" => "Enabled.",
        "signed-out" => "Signed out everywhere: sessions ended, tokens revoked.",
        "factor-reset" => "Second factor removed and sessions ended: the user sets up a new one at their next sign-in.",
        "factor-required" => "The user sets up a second factor at their next sign-in.",
        "factor-optional" => "A second factor is no longer required of this user.",
        "revoked" => "Secret revoked.",
        "uploaded" => "Uploaded.",
        "rolled-back" => "Bindings now use the chosen version.",
        "rotated" => "Keys rotated.",
        "moved" => "Order changed.",
        "shadow-set" => "The candidate runs in shadow from the next token request.",
        "promoted" => "The candidate is now the live version.",
        "discarded" => "The candidate was discarded; the live version stays.",
        "key-retired" => {
            "Key retired: it signs nothing from now on (every node within a second), and stays published \
                          until the tokens it signed expire."
        }
        "version-deleted" => "Version deleted.",
        _ => return None,
    })
}

/// A bare page with one message (before or outside a session).
#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    message: &'a str,
}

/// A bare message page with `status`.
pub fn message_page(status: StatusCode, message: &str) -> HttpResponse {
    render(status, &MessagePage { message })
}

/// Renders a console page.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Renders a page with 200, or 422 when its form has errors.
pub fn render_form(failed: bool, page: &impl Template) -> HttpResponse {
    render(if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, page)
}

/// 303 to a console path (never anywhere else: no open redirect).
pub fn see_other(path: &str) -> HttpResponse {
    let location = if path.starts_with(HOME) && !path.starts_with("//") { path } else { HOME };
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Template filters shared by the console pages (`{{ x|when }}`).
#[allow(missing_docs)] // `askama::filter_fn` generates undocumented items
pub mod filters {
    /// An HTML id for a grant type.
    #[askama::filter_fn]
    pub fn lane_id(g: &str, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::web::console::bindings::lane_id(g))
    }

    /// Unix seconds as a UTC date and time.
    #[askama::filter_fn]
    pub fn when(secs: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::when(*secs))
    }

    /// Unix seconds as a compact UTC date and time, for table cells on
    /// narrow screens (the full form goes in the `title`).
    #[askama::filter_fn]
    pub fn short_when(secs: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::short_when(*secs))
    }

    /// Unix seconds as RFC 3339, for `<time datetime>`.
    #[askama::filter_fn]
    pub fn iso(secs: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::iso(*secs))
    }
}

/// Formats Unix seconds as UTC for tables.
pub fn when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Formats Unix seconds as a compact UTC time for table cells: to the minute,
/// without the zone (every console time is UTC, and `title` says so).
pub fn short_when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Formats Unix seconds as RFC 3339 (`2026-11-30T06:25:17Z`), the form
/// `<time datetime>` takes.
pub fn iso(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Pretty JSON for a textarea.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A secret, shown this once (client secrets, HS256 API secrets).
#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage<'a> {
    l: Layout,
    owner_label: &'a str,
    owner_id: &'a str,
    back: &'a str,
    secret: &'a str,
}

/// Renders the one time a secret is shown (the page is `no-store`).
pub fn secret_page(l: Layout, owner_label: &str, owner_id: &str, back: &str, secret: &str) -> HttpResponse {
    render(StatusCode::OK, &SecretPage { l, owner_label, owner_id, back, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table cells show the minute, the title the second, and `datetime`
    /// the machine form; all three are the same instant in UTC.
    #[test]
    fn dates_have_a_compact_a_full_and_a_machine_form() {
        let secs = 1_796_019_917; // 2026-11-30 06:25:17 UTC
        assert_eq!(short_when(secs), "2026-11-30 06:25");
        assert_eq!(when(secs), "2026-11-30 06:25:17 UTC");
        assert_eq!(iso(secs), "2026-11-30T06:25:17Z");
    }
}
