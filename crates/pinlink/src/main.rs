//! The `pinlink` command: run the server, manage accounts.
//!
//! `main` only parses the command line, sets up logging and hands
//! Ctrl-C/SIGTERM to the server as its shutdown signal.

mod big_code;
mod client;
mod credentials;
mod data;
mod device_commands;
mod keys;
mod limit_names;
mod moving;
mod resource;
mod serve;
mod test_mode;
mod user;

/// jemalloc, with its background threads: memory freed after a burst
/// (thousands of connections and streams at once) goes back to the system
/// within seconds. glibc's allocator kept most of it, fragmented, for as
/// long as the process ran.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use client::ClientCommand;
use data::DataArgs;
use keys::KeysCommand;
use resource::ResourceCommand;
use serve::ServeArgs;
use user::UserCommand;

#[derive(Parser)]
#[command(
    name = "pinlink",
    version,
    about = "A self-hostable device-linking server, wire-compatible with plex.tv's PIN API",
    long_about = "A self-hostable device-linking (\"enter this code on your phone\") server, \
wire-compatible with plex.tv's PIN API.\n\n\
Quick start: `pinlink user add alice --email alice@example.org`, then `pinlink serve`. \
Devices create pins with POST /api/v2/pins and poll GET /api/v2/pins/{id}; \
a signed-in account links a code with PUT /api/v2/pins/link.",
    after_help = "Environment: PINLINK_DATABASE, PINLINK_KEY_FILE, PINLINK_LISTEN, PINLINK_PUBLIC_URL, \
PINLINK_CONFIG, PINLINK_DATABASE_POOL_SIZE, PINLINK_DATABASE_TIMEOUT, PINLINK_OPEN_SIGNUP, \
PINLINK_TRUSTED_PROXIES and one per limit (see `pinlink serve --help`); \
PINLINK_LOG sets the log filter (e.g. `debug`, default `info`)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text, or as one JSON object per line for log shippers.
    /// PINLINK_LOG sets the level (debug shows every request: route,
    /// status, latency, request id).
    #[arg(
        long,
        global = true,
        env = "PINLINK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Log this computer in with a PIN (plex.tv by default, or --server) and
    /// store the token.
    Login(device_commands::LoginArgs),
    /// Show who the stored token belongs to.
    Whoami(device_commands::StoredLoginArgs),
    /// List the devices of the stored login's account.
    Devices(device_commands::StoredLoginArgs),
    /// Sign the stored token out and forget it.
    Logout(device_commands::StoredLoginArgs),
    /// The keys Plex JWTs are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// An account's servers (its resources), for an app's CI.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Applications that sign devices in with the standard OAuth 2.0 device
    /// grant (RFC 8628): POST /oauth/device_authorization, POST /oauth/token.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Back up a running server's SQLite database to a new file: one
    /// consistent snapshot, taken without stopping the server (SQLite's
    /// VACUUM INTO), checked with PRAGMA integrity_check. On PostgreSQL it
    /// prints the pg_dump command to run instead. The key file is not in
    /// the backup: keep it too, apart.
    Backup {
        #[command(flatten)]
        data: DataArgs,
        /// The new file to write (never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Copy everything (accounts, passwords, two-step secrets, passkeys,
    /// devices, tokens, applications, pins, signing keys, budgets, the
    /// security log) from one database to another: SQLite to PostgreSQL,
    /// or back. All or nothing; the target must be empty. Tokens keep
    /// working with the same key file. Stop the server first (or writes
    /// after the copy began stay behind).
    Copy {
        /// The database to copy from (sqlite://FILE or postgres://…).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty database to copy to (a new SQLite file is created).
        #[arg(long, value_name = "URL")]
        to: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Apply pending database migrations and exit. `serve` does this too at
    /// every start (instances starting together take turns), so this is only
    /// needed to migrate ahead of a rolling deploy.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// A time for people to read, in the commands' tables.
fn unix_to_date(secs: i64) -> String {
    pinlink_proto::time_format::xml_datetime(secs)
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let serve = matches.subcommand_matches("serve");
            let given = |id: &str| {
                serve
                    .and_then(|m| m.value_source(id))
                    .is_some_and(|source| source != clap::parser::ValueSource::DefaultValue)
            };
            serve::run(args, given).await
        }
        Command::Login(args) => device_commands::login(args).await,
        Command::Whoami(args) => device_commands::whoami(args).await,
        Command::Devices(args) => device_commands::devices(args).await,
        Command::Logout(args) => device_commands::logout(args).await,
        Command::Migrate { data } => {
            let url = data.database_url()?;
            let applied = pinlink_store::migrate(&url, &data.store_options())
                .await
                .with_context(|| format!("cannot migrate {}", pinlink_store::redact_url(&url)))?;
            if applied.is_empty() {
                println!("{}: up to date", pinlink_store::redact_url(&url));
            } else {
                let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
                println!(
                    "{}: applied migration(s) {}",
                    pinlink_store::redact_url(&url),
                    versions.join(", ")
                );
            }
            Ok(())
        }
        Command::Backup { data, to } => moving::backup(data, to).await,
        Command::Copy { from, to, data } => moving::copy(from, to, data).await,
        Command::User(command) => command.run().await,
        Command::Resource(command) => command.run().await,
        Command::Client(command) => command.run().await,
        Command::Keys(command) => command.run().await,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PINLINK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match run(cli, &matches).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
