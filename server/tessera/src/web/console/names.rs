//! Named objects as links: what the resolver (`service::admin::names`) named
//! becomes a label and the path of its page here, where the console's paths
//! are known. A deleted object keeps its id as the label, marked deleted.

use crate::service::admin::names::{Kind, Named};
use crate::web::routes::console as paths;

/// An object as a page shows it: its name linked to its page, or its id
/// marked deleted.
#[derive(Debug, Clone)]
pub struct Link {
    /// The name, or the id of a deleted object.
    pub label: String,
    /// Its page; `None` when deleted or when it has no page.
    pub href: Option<String>,
    /// The object no longer exists.
    pub deleted: bool,
    /// Its id, for a tooltip.
    pub id: String,
}

impl From<&Named> for Link {
    fn from(n: &Named) -> Link {
        let Some(name) = &n.name else {
            return Link { label: n.id.clone(), href: None, deleted: true, id: n.id.clone() };
        };
        let href = match n.kind {
            Kind::Client => Some(paths::client(&n.id)),
            Kind::Api => Some(paths::api(&n.id)),
            Kind::User => Some(paths::user(&n.id)),
            Kind::Plugin => Some(paths::plugin(name)),
            Kind::Binding => Some(paths::binding(&n.id)),
            Kind::Admin => None,
        };
        let label = match n.kind {
            Kind::Binding => format!("{name} binding"),
            _ => name.clone(),
        };
        Link { label, href, deleted: false, id: n.id.clone() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_deleted_object_shows_its_id_without_a_link() {
        let gone = Link::from(&Named { kind: Kind::Client, id: "c-1".into(), name: None });
        assert!(gone.deleted && gone.href.is_none() && gone.label == "c-1");
        let plugin = Link::from(&Named { kind: Kind::Plugin, id: "p-1".into(), name: Some("add-claims".into()) });
        assert_eq!(plugin.href.unwrap(), paths::plugin("add-claims"));
    }
}
