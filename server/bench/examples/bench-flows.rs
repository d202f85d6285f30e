//! The browser flows for scripts/bench, which wrk cannot drive: it would have
//! to follow a login, keep a session cookie and carry a new PKCE pair and a
//! new refresh token into every request.
//!
//! Each of `--connections` workers has its own HTTP connection and cookie
//! jar. Before the clock starts, each one signs in once through the hosted
//! login page (argon2 is not what is measured) and redeems one code. Then,
//! for `--duration` seconds, it repeats one of:
//!
//! - `code`: an authorization code + PKCE round trip on the signed-in
//!   session: the authorization request (S256 challenge; a first-party
//!   client, so the answer is the redirect with the code), then the code
//!   redeemed with its verifier at the token endpoint.
//! - `refresh`: one refresh-token rotation, each request presenting the
//!   token the previous one returned.
//!
//! It prints one JSON object: round trips per second, p50 and p99 in
//! microseconds, and the failures (a failed round trip is counted, not
//! timed; a broken refresh chain ends that worker).
//!
//! The endpoints come from the issuer's discovery document and the login
//! form's own `action`, so this program copies no route path.

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::LOCATION;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// What a worker repeats.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Code,
    Refresh,
}

/// The command line.
struct Options {
    issuer: String,
    client_id: String,
    client_secret: String,
    username: String,
    password: String,
    redirect_uri: String,
    audience: Option<String>,
    mode: Mode,
    connections: usize,
    duration: Duration,
}

const USAGE: &str = "usage: bench-flows --issuer URL --client-id ID --client-secret SECRET \
    --username NAME --password PASSWORD --redirect-uri URI [--audience API] \
    --mode code|refresh [--connections 32] [--duration SECONDS]";

impl Options {
    fn parse() -> anyhow::Result<Options> {
        let mut given: HashMap<String, String> = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let Some(name) = flag.strip_prefix("--") else { bail!("unexpected argument {flag}\n{USAGE}") };
            let value = args.next().ok_or_else(|| anyhow!("--{name} needs a value\n{USAGE}"))?;
            given.insert(name.to_owned(), value);
        }
        let mut take = |name: &str| given.remove(name).ok_or_else(|| anyhow!("--{name} is required\n{USAGE}"));
        let options = Options {
            issuer: take("issuer")?.trim_end_matches('/').to_owned(),
            client_id: take("client-id")?,
            client_secret: take("client-secret")?,
            username: take("username")?,
            password: take("password")?,
            redirect_uri: take("redirect-uri")?,
            audience: take("audience").ok(),
            mode: match take("mode")?.as_str() {
                "code" => Mode::Code,
                "refresh" => Mode::Refresh,
                other => bail!("unknown mode {other}\n{USAGE}"),
            },
            connections: take("connections").map_or(Ok(32), |v| v.parse()).context("--connections")?,
            duration: take("duration")
                .map_or(Ok(20.0), |v| v.parse())
                .map_err(anyhow::Error::from)
                .and_then(|secs| Ok(Duration::try_from_secs_f64(secs)?))
                .context("--duration")?,
        };
        if let Some(name) = given.keys().next() {
            bail!("unknown flag --{name}\n{USAGE}");
        }
        if options.connections == 0 {
            bail!("--connections must be at least 1");
        }
        Ok(options)
    }
}

/// The endpoints, from the discovery document.
struct Endpoints {
    authorize: String,
    token: String,
}

/// One worker: its own connection pool and cookie jar (its session).
struct Worker {
    http: reqwest::Client,
    options: Arc<Options>,
    endpoints: Arc<Endpoints>,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failures: u64,
    first_failure: Option<String>,
}

impl Worker {
    /// An authorization URL with a fresh state and PKCE pair; returns it with
    /// the verifier.
    fn authorize_url(&self) -> anyhow::Result<(Url, String)> {
        let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = uuid::Uuid::new_v4().simple().to_string();
        let mut url = Url::parse(&self.endpoints.authorize).context("authorization_endpoint")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.options.client_id)
                .append_pair("redirect_uri", &self.options.redirect_uri)
                .append_pair("scope", "openid offline_access")
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(aud) = &self.options.audience {
                q.append_pair("audience", aud);
            }
        }
        Ok((url, verifier))
    }

    /// The `code` parameter of a redirect to the client.
    fn code_from(&self, response: &reqwest::Response) -> anyhow::Result<String> {
        let location = location(response)?;
        if !location.starts_with(&self.options.redirect_uri) {
            bail!("expected a redirect to the client, got {} to {location}", response.status());
        }
        let url = Url::parse(&location).context("redirect URI")?;
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| anyhow!("no code in the redirect: {location}"))
    }

    /// Signs in through the hosted login page; returns the first code and
    /// its verifier.
    async fn sign_in(&self) -> anyhow::Result<(String, String)> {
        let (url, verifier) = self.authorize_url()?;
        let page = self.http.get(url).send().await?;
        if page.status() != 200 {
            bail!("the authorization request answered {} instead of the login page", page.status());
        }
        let html = page.text().await?;
        let action = self.absolute(&attribute(&html, "<form", "action")?)?;
        let form = [
            ("username", self.options.username.clone()),
            ("password", self.options.password.clone()),
            ("csrf", hidden(&html, "csrf")?),
            ("authorize", hidden(&html, "authorize")?),
        ];
        let posted = self.http.post(action).form(&form).send().await?;
        if posted.status() != 303 {
            bail!("the login answered {} (wrong password, or throttled?)", posted.status());
        }
        let resumed = self.http.get(self.absolute(&location(&posted)?)?).send().await?;
        Ok((self.code_from(&resumed)?, verifier))
    }

    /// `path` (absolute or relative to the issuer) as a full URL.
    fn absolute(&self, path: &str) -> anyhow::Result<Url> {
        Url::parse(&format!("{}/", self.options.issuer))?.join(path).context("a path from the server")
    }

    /// A token request with HTTP Basic; the JSON body of a 200.
    async fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(&self.endpoints.token)
            .basic_auth(&self.options.client_id, Some(&self.options.client_secret))
            .form(form)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if status != 200 {
            bail!("the token endpoint answered {status}: {body}");
        }
        Ok(body)
    }

    /// Redeems a code; returns the refresh token.
    async fn redeem(&self, code: &str, verifier: &str) -> anyhow::Result<String> {
        let body = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.options.redirect_uri),
                ("code_verifier", verifier),
            ])
            .await?;
        refresh_token_of(&body)
    }

    /// One code + PKCE round trip on the signed-in session.
    async fn code_round_trip(&self) -> anyhow::Result<()> {
        let (url, verifier) = self.authorize_url()?;
        let r = self.http.get(url).send().await?;
        let code = self.code_from(&r)?;
        self.redeem(&code, &verifier).await.map(drop)
    }

    /// One refresh rotation; returns the new refresh token.
    async fn rotate(&self, refresh_token: &str) -> anyhow::Result<String> {
        refresh_token_of(&self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await?)
    }

    /// Repeats the mode's request until `deadline`.
    async fn run(self, mut refresh_token: String, deadline: Instant) -> Tally {
        let mut tally = Tally::default();
        while Instant::now() < deadline {
            let start = Instant::now();
            let outcome = match self.options.mode {
                Mode::Code => self.code_round_trip().await,
                Mode::Refresh => self.rotate(&refresh_token).await.map(|next| refresh_token = next),
            };
            match outcome {
                Ok(()) => tally.latencies_us.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)),
                Err(e) => {
                    tally.failures += 1;
                    tally.first_failure.get_or_insert_with(|| format!("{e:#}"));
                    if self.options.mode == Mode::Refresh {
                        break; // the chain is broken; no token to go on with
                    }
                }
            }
        }
        tally
    }
}

fn refresh_token_of(body: &Value) -> anyhow::Result<String> {
    body["refresh_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no refresh_token in {body}"))
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    let value =
        response.headers().get(LOCATION).ok_or_else(|| anyhow!("{} without a Location header", response.status()))?;
    Ok(value.to_str().context("Location header")?.to_owned())
}

/// The value of `name="..."` in the first tag that starts with `tag`.
fn attribute(html: &str, tag: &str, name: &str) -> anyhow::Result<String> {
    let start = html.find(tag).ok_or_else(|| anyhow!("no {tag} in the login page"))?;
    let end = start + html[start..].find('>').ok_or_else(|| anyhow!("unterminated {tag}"))?;
    quoted_after(&html[start..end], &format!("{name}=\"")).ok_or_else(|| anyhow!("no {name} on {tag}"))
}

/// The value of a hidden input of the login page.
fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    quoted_after(html, &format!("name=\"{name}\" value=\"")).ok_or_else(|| anyhow!("no {name} field in the login page"))
}

/// The text between `marker` and the next `"`, with askama's HTML escapes undone.
fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let raw = &text[start..start + text[start..].find('"')?];
    Some(
        raw.replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&#34;", "\""),
    )
}

/// The `p`-th percentile (0..=100) of sorted values, nearest rank.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn measure(options: Options) -> anyhow::Result<Value> {
    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", options.issuer))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let endpoint = |name: &str| {
        discovery[name].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no {name} in the discovery document"))
    };
    let endpoints =
        Arc::new(Endpoints { authorize: endpoint("authorization_endpoint")?, token: endpoint("token_endpoint")? });
    let options = Arc::new(options);
    // Sign in one worker after the other: the login's argon2 is bounded,
    // and it is not what is measured.
    let mut workers = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let http = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
        let worker = Worker { http, options: options.clone(), endpoints: endpoints.clone() };
        let (code, verifier) = worker.sign_in().await.context("signing in")?;
        let refresh_token = worker.redeem(&code, &verifier).await.context("redeeming the first code")?;
        workers.push((worker, refresh_token));
    }
    let started = Instant::now();
    let deadline = started + options.duration;
    // Tasks on this one thread: concurrent, as wrk's connections on its thread.
    let running: Vec<_> =
        workers.into_iter().map(|(worker, refresh_token)| tokio::spawn(worker.run(refresh_token, deadline))).collect();
    let mut tallies = Vec::with_capacity(running.len());
    for task in running {
        tallies.push(task.await.context("a worker failed")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<u64> = tallies.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let failures: u64 = tallies.iter().map(|t| t.failures).sum();
    let first_failure = tallies.iter().find_map(|t| t.first_failure.clone());
    Ok(serde_json::json!({
        "mode": match options.mode { Mode::Code => "code", Mode::Refresh => "refresh" },
        "connections": options.connections,
        "seconds": elapsed,
        "count": latencies.len(),
        "per_second": latencies.len() as f64 / elapsed,
        "p50_us": percentile(&latencies, 50),
        "p99_us": percentile(&latencies, 99),
        "failures": failures,
        "first_failure": first_failure,
    }))
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(measure(options))?;
    println!("{report}");
    Ok(())
}
