//! Encoding the authorization response (RFC 6749 §4.1.2, §4.2.2) for the
//! response mode the request chose: the query or fragment of the redirect
//! URI (OAuth 2.0 Multiple Response Types §2.1), or an auto-submitted form
//! (OAuth 2.0 Form Post Response Mode).

use super::request::ResponseMode;

/// How the browser carries the response to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Redirect to this URL.
    Redirect(String),
    /// POST these fields to `action` (`response_mode=form_post`).
    FormPost {
        /// The client's redirect URI.
        action: String,
        /// The response parameters.
        fields: Vec<(String, String)>,
    },
}

/// Appends `pairs` to the URI's query, after any query it already has
/// (RFC 6749 §3.1.2: the registered query component is retained). Also the
/// encoding of RP-Initiated Logout's return to `post_logout_redirect_uri`.
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    if uri.contains('?') { format!("{uri}&{encoded}") } else { format!("{uri}?{encoded}") }
}

/// Delivers the response `pairs` to `redirect_uri` in `mode`.
pub fn deliver(redirect_uri: &str, mode: ResponseMode, pairs: &[(&str, &str)]) -> Delivery {
    match mode {
        ResponseMode::Query => Delivery::Redirect(with_query(redirect_uri, pairs)),
        ResponseMode::Fragment => {
            let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
            Delivery::Redirect(format!("{redirect_uri}#{encoded}"))
        }
        ResponseMode::FormPost => Delivery::FormPost {
            action: redirect_uri.to_owned(),
            fields: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_the_registered_query_and_fragment_and_form_post_do_not_touch_the_uri() {
        let pairs = [("code", "a b"), ("state", "s&t")];
        assert_eq!(
            deliver("https://app/cb", ResponseMode::Query, &pairs),
            Delivery::Redirect("https://app/cb?code=a+b&state=s%26t".into())
        );
        assert_eq!(
            deliver("https://app/cb?x=1", ResponseMode::Query, &pairs),
            Delivery::Redirect("https://app/cb?x=1&code=a+b&state=s%26t".into())
        );
        assert_eq!(
            deliver("https://app/cb", ResponseMode::Fragment, &pairs),
            Delivery::Redirect("https://app/cb#code=a+b&state=s%26t".into())
        );
        assert_eq!(
            deliver("https://app/cb", ResponseMode::FormPost, &pairs),
            Delivery::FormPost {
                action: "https://app/cb".into(),
                fields: vec![("code".into(), "a b".into()), ("state".into(), "s&t".into())],
            }
        );
    }
}
