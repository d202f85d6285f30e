//! Headless Chromium through chromedriver (Debian's chromium and
//! chromium-driver), shared by the hosted-page and console tests.

use super::free_port;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver, killed and reaped on drop (a leaked one would hold its port
/// and profile). It runs
/// in a process group of its own, so a test that panics before closing its
/// session still takes the Chromium processes down with it instead of
/// leaving them spinning and slowing every later test.
pub struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// chromedriver's own URL, for the commands fantoccini has no method
    /// for (WebAuthn's virtual authenticators).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Starts chromedriver and a headless Chromium session at 1280x900.
pub async fn chromium() -> (Driver, Client) {
    crate::support::init();
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (apt-get install chromium chromium-driver; scripts/test does)");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver { child, port, _profile: profile };
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        &format!("--user-data-dir={}", driver._profile.path().display()),
    ];
    let caps = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}});
    let Value::Object(caps) = caps else { unreachable!() };
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a WebDriver session with chromium");
}

/// Where screenshots go: `<target>/tmp/screenshots/` (CI keeps them as artifacts).
pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the whole page at `width`: the window grows to the
/// document's height (at most 6000 px) for the shot and shrinks back, so
/// the layout at that width is what the file shows, not only its top.
pub async fn full_page_screenshot(c: &Client, width: u32, path: &std::path::Path) {
    let height = c.execute("return document.documentElement.scrollHeight;", vec![]).await.unwrap().as_u64().unwrap();
    let height = u32::try_from(height).unwrap().clamp(600, 6000);
    let before = c.get_window_size().await.unwrap();
    c.set_window_size(width, height).await.unwrap();
    std::fs::write(path, c.screenshot().await.unwrap()).unwrap();
    c.set_window_size(u32::try_from(before.0).unwrap(), u32::try_from(before.1).unwrap()).await.unwrap();
}
