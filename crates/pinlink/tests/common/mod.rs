//! What the tests of the `pinlink` binary share: running it, reading its
//! log, and the account most tests use.

// Each test file uses some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_pinlink");

pub fn pinlink(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env(
            "PINLINK_DATABASE",
            format!("sqlite://{}", dir.join("test.db").display()),
        )
        .env("PINLINK_KEY_FILE", dir.join("test.key"))
        .env_remove("PINLINK_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pinlink runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("pinlink finishes")
}

/// Kills the process if the test fails before it ends.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// Waits for the process to end by itself and collects its output.
    pub fn wait_with_output(mut self) -> Output {
        let mut output = Output {
            status: self.0.wait().expect("process ends"),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        if let Some(mut stdout) = self.0.stdout.take() {
            let _ = std::io::Read::read_to_end(&mut stdout, &mut output.stdout);
        }
        output
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command failed, and its error output says `words`.
pub fn fails_saying(out: &Output, words: &str) {
    assert!(!out.status.success(), "succeeded: {}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains(words),
        "no {words:?} in: {}",
        text(&out.stderr)
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `pinlink serve` on a free port over the database in `dir`; returns
/// the process, its address and its log lines so far, and the log's receiver.
pub fn start_server(
    dir: &Path,
    extra: &[&str],
) -> (KillOnDrop, String, Vec<String>, mpsc::Receiver<String>) {
    start_server_by(dir, Command::new(BIN), extra)
}

/// As [`start_server`], but run by `command` (a shell setting limits
/// first, say), which is given the binary's arguments.
pub fn start_server_by(
    dir: &Path,
    mut command: Command,
    extra: &[&str],
) -> (KillOnDrop, String, Vec<String>, mpsc::Receiver<String>) {
    let mut child = KillOnDrop(
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env(
                "PINLINK_DATABASE",
                format!("sqlite://{}", dir.join("test.db").display()),
            )
            .env("PINLINK_KEY_FILE", dir.join("test.key"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts"),
    );
    let lines = log_lines(child.0.stderr.take().expect("stderr"));
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its address");
        log.push(line.clone());
        if !line.contains("pinlink is listening") {
            continue;
        }
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    (child, address, log, lines)
}

pub fn log_lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    lines
}

pub fn add_alice(dir: &Path) {
    let added = pinlink(
        dir,
        &[
            "user",
            "add",
            "alice",
            "--email",
            "a@example.org",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
}

pub async fn sign_in(http: &reqwest::Client, address: &str) -> String {
    let signed_in = http
        .post(format!("http://{address}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "cli-test")
        .form(&[("login", "alice"), ("password", "a long password")])
        .send()
        .await
        .expect("send");
    assert_eq!(signed_in.status(), 201);
    let user: serde_json::Value = signed_in.json().await.expect("json");
    user["authToken"].as_str().expect("token").to_owned()
}

/// alice signs in and approves `code`, as a person would at /link.
pub async fn approve(http: &reqwest::Client, address: &str, code: &str) {
    let token = sign_in(http, address).await;
    let linked = http
        .put(format!("http://{address}/api/v2/pins/link"))
        .header("X-Plex-Token", &token)
        .form(&[("code", code)])
        .send()
        .await
        .expect("send");
    assert_eq!(linked.status(), 204);
}

/// The most memory the process has held (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmHWM")
}

/// A test CA and a certificate it signed for 127.0.0.1 and localhost (PEM):
/// (CA certificate, server certificate, server key).
pub fn test_certificates(ca_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    let leaf_key = KeyPair::generate().expect("server key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("server certificate");
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}
