//! The device side of the CLI: `pinlink login`, `whoami`, `devices`, `logout`.
//! They work against plex.tv by default, or any pinlink server (`--server`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use clap::Args;
use pinlink_client::{Client, DeviceKey, Error, Identity, Pin, Progress, Wait, PLEX_TV};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

use crate::big_code;
use crate::credentials::{self, Credentials};

#[derive(Args)]
pub struct LoginArgs {
    /// The server to log in to.
    #[arg(long, env = "PINLINK_SERVER", default_value = PLEX_TV, value_name = "URL")]
    server: String,
    /// The name this device is listed under in the account's devices.
    #[arg(long, default_value = "pinlink CLI", value_name = "NAME")]
    product: String,
    /// Use a long code and approve it in a browser (the approval URL) instead
    /// of typing a 4-character code.
    #[arg(long)]
    strong: bool,
    /// Open the approval page in the default browser.
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    token: TokenFileArg,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Log in with plex.tv's JWT login: this computer gets an Ed25519 key,
    /// stored beside the token, and a Plex JWT (valid 7 days) that `whoami`
    /// and `devices` refresh with that key when it nears its end.
    #[arg(long)]
    jwt: bool,
}

#[derive(Args)]
pub struct TokenFileArg {
    /// Where the login is stored [default: ~/.config/pinlink/login.json].
    #[arg(long, env = "PINLINK_TOKEN_FILE", value_name = "PATH")]
    token_file: Option<PathBuf>,
}

impl TokenFileArg {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.token_file {
            Some(path) => Ok(path.clone()),
            None => credentials::default_path(),
        }
    }
}

#[derive(Args)]
pub struct StoredLoginArgs {
    #[command(flatten)]
    token: TokenFileArg,
    /// Print JSON on standard output.
    #[arg(long)]
    json: bool,
}

fn client_for(
    server: &str,
    product: &str,
    client_identifier: Option<&str>,
) -> anyhow::Result<Client> {
    let hostname = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty());
    let mut identity = Identity::new(product)?
        .version(env!("CARGO_PKG_VERSION"))
        .platform(std::env::consts::OS)
        .device(std::env::consts::ARCH);
    if let Some(host) = hostname {
        identity = identity.device_name(host);
    }
    if let Some(id) = client_identifier {
        identity = identity.with_client_identifier(id)?;
    }
    Ok(Client::new(identity).with_base_url(server)?)
}

fn mm_ss(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Shows the wait: a spinner with the time left on a terminal, a line every
/// 30 seconds otherwise.
struct Spinner {
    tty: bool,
    frame: usize,
    last_line: Option<Instant>,
}

impl Spinner {
    fn show(&mut self, progress: &Progress) {
        const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        let left = mm_ss(progress.seconds_left);
        let note = progress
            .last_error
            .as_deref()
            .map(|e| format!(" (retrying: {e})"))
            .unwrap_or_default();
        if self.tty {
            self.frame = (self.frame + 1) % FRAMES.len();
            eprint!(
                "\r\x1b[2K{} Waiting for approval, {left} left{note}",
                FRAMES[self.frame]
            );
            let _ = std::io::stderr().flush();
        } else if self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            eprintln!("Waiting for approval, {left} left{note}");
            self.last_line = Some(Instant::now());
        }
    }
    fn finish(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

fn print_instructions(client: &Client, pin: &Pin, open: bool) {
    let url = if pin.is_strong() {
        client.auth_url(pin, None)
    } else {
        client.link_url(pin)
    };
    if pin.is_strong() {
        eprintln!("Approve this device in your browser:\n\n    {url}\n");
    } else {
        eprintln!("Go to\n\n    {url}\n\nand enter the code\n");
        eprintln!("{}\n", big_code::render(&pin.code));
        eprintln!("Code: {}", pin.code);
    }
    match QrCode::new(url.as_bytes()) {
        Ok(qr) => eprintln!(
            "\nOr scan:\n{}",
            qr.render::<Dense1x2>()
                // Light modules drawn as blocks: reads right on the dark
                // background most terminals have.
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build()
        ),
        Err(e) => tracing::debug!(error = %e, "no QR code for this URL"),
    }
    if open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        if std::process::Command::new(opener)
            .arg(&url)
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            eprintln!("(could not open a browser; open the URL above yourself)");
        }
    }
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let path = args.token.path()?;
    // Keep the installation's client identifier across logins to one server.
    let previous = credentials::load(&path)
        .ok()
        .flatten()
        .filter(|c| c.server == args.server.trim_end_matches('/'));
    let client = client_for(
        &args.server,
        &args.product,
        previous.as_ref().map(|c| c.client_identifier.as_str()),
    )?;
    let key = args.jwt.then(DeviceKey::generate);
    let pin = match &key {
        Some(key) => client.create_jwt_pin(key, args.strong).await,
        None => client.create_pin(args.strong).await,
    }
    .with_context(|| format!("cannot get a pin from {}", client.base_url()))?;
    print_instructions(&client, &pin, args.open);

    let mut spinner = Spinner {
        tty: std::io::stderr().is_terminal(),
        frame: 0,
        last_line: None,
    };
    let wait = async {
        match &key {
            Some(key) => {
                client
                    .wait_for_jwt(&pin, key, Wait::default(), |p| spinner.show(p))
                    .await
            }
            None => {
                client
                    .wait_for_token(&pin, Wait::default(), |p| spinner.show(p))
                    .await
            }
        }
    };
    let token = tokio::select! {
        result = wait => result,
        _ = tokio::signal::ctrl_c() => {
            spinner.finish();
            eprintln!("Cancelled; nothing was stored.");
            std::process::exit(130);
        }
    };
    spinner.finish();
    let token = match token {
        Ok(token) => token,
        Err(Error::PinExpired) => {
            anyhow::bail!("the code expired before it was approved; run `pinlink login` again")
        }
        Err(e) => return Err(e).context("waiting for approval failed"),
    };
    let user = client
        .user(&token)
        .await
        .context("the new token does not work")?;
    let stored = Credentials {
        server: client.base_url().to_owned(),
        product: args.product.clone(),
        client_identifier: client.identity().client_identifier().to_owned(),
        username: user.username.clone(),
        token,
        jwt_key: key.map(|k| base64::engine::general_purpose::STANDARD.encode(k.private_bytes())),
    };
    credentials::save(&path, &stored)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"username": user.username, "email": user.email, "server": stored.server,
                               "tokenFile": path.display().to_string()})
        );
    } else {
        println!(
            "Signed in to {} as {}. Token stored in {}.",
            stored.server,
            user.username,
            path.display()
        );
    }
    Ok(())
}

/// A Plex JWT is refreshed when it has less than this left (what
/// python-plexapi does too).
const REFRESH_WITHIN_SECS: i64 = 24 * 3600;

/// The stored login, with its Plex JWT refreshed (and saved) first if it
/// was made with `--jwt` and is within a day of expiring.
async fn stored_client(path: &Path) -> anyhow::Result<(Credentials, Client)> {
    let mut stored = credentials::load_required(path)?;
    let client = client_for(
        &stored.server,
        &stored.product,
        Some(&stored.client_identifier),
    )?;
    if let Some(encoded) = &stored.jwt_key {
        let due = pinlink_client::jwt::unverified_expires_in(&stored.token)
            .is_none_or(|left| left < REFRESH_WITHIN_SECS);
        if due {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .context("the stored device key is not base64")?;
            let key = DeviceKey::from_private_bytes(&bytes)?;
            stored.token = client
                .refresh_jwt(&key)
                .await
                .map_err(explain)
                .context("refreshing the Plex JWT failed")?;
            credentials::save(path, &stored)?;
            tracing::info!("refreshed the Plex JWT");
        }
    }
    Ok((stored, client))
}

fn explain(e: Error) -> anyhow::Error {
    match e {
        Error::Unauthorized { .. } => {
            anyhow::anyhow!("the stored token is no longer valid: run `pinlink login` again")
        }
        other => other.into(),
    }
}

pub async fn whoami(args: StoredLoginArgs) -> anyhow::Result<()> {
    let (stored, client) = stored_client(&args.token.path()?).await?;
    let user = client.user(&stored.token).await.map_err(explain)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"id": user.id, "username": user.username, "email": user.email, "server": stored.server})
        );
    } else {
        println!("{} <{}> on {}", user.username, user.email, stored.server);
    }
    Ok(())
}

pub async fn devices(args: StoredLoginArgs) -> anyhow::Result<()> {
    let (stored, client) = stored_client(&args.token.path()?).await?;
    let devices = client.devices(&stored.token).await.map_err(explain)?;
    if args.json {
        let list: Vec<_> = devices
            .iter()
            .map(|d| {
                serde_json::json!({"id": d.id, "name": d.name, "product": d.product, "productVersion": d.product_version,
                    "platform": d.platform, "platformVersion": d.platform_version, "device": d.device,
                    "clientIdentifier": d.client_identifier, "createdAt": d.created_at, "lastSeenAt": d.last_seen_at,
                    "current": d.client_identifier == stored.client_identifier})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:>10}  {:<28} {:<20} {:<12} LAST SEEN",
        "ID", "PRODUCT", "NAME", "PLATFORM"
    );
    for d in &devices {
        let seen = d
            .last_seen_at
            .map(pinlink_proto::time_format::xml_datetime)
            .unwrap_or_default();
        let marker = if d.client_identifier == stored.client_identifier {
            " (this device)"
        } else {
            ""
        };
        println!(
            "{:>10}  {:<28} {:<20} {:<12} {seen}{marker}",
            d.id, d.product, d.name, d.platform
        );
    }
    Ok(())
}

pub async fn logout(args: StoredLoginArgs) -> anyhow::Result<()> {
    let path = args.token.path()?;
    let (stored, client) = stored_client(&path).await?;
    match client.sign_out(&stored.token).await {
        Ok(()) | Err(Error::Unauthorized { .. }) => {}
        Err(e) => return Err(e).context("signing out failed; the stored token was kept"),
    }
    credentials::remove(&path)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"loggedOut": true, "server": stored.server})
        );
    } else {
        println!("Logged out of {}.", stored.server);
    }
    Ok(())
}
