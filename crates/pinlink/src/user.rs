//! `pinlink user`: the operator's commands for accounts. Each takes effect
//! at once on running servers: on PostgreSQL every instance reads accounts
//! and tokens from the database; on SQLite the command tells the server
//! through the file beside the database (the store's outside changes), and
//! the server's next request reads them again.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::data::{build_config, open_core, DataArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account. Asks for the password (twice) unless
    /// --password-stdin is given.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The account name: letters, digits, dots, dashes, underscores.
        name: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts, with whether each has two-step verification, how many
    /// passkeys, and whether it is disabled.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set an account's password. Asks for it (twice) unless
    /// --password-stdin is given.
    Passwd {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Also sign every device and browser of the account out.
        #[arg(long)]
        sign_out: bool,
    },
    /// Disable an account: it cannot sign in and its tokens are refused (at
    /// once, also by running servers), but nothing of it is deleted.
    Disable {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        name: String,
    },
    /// Enable a disabled account again: its devices work as before.
    Enable {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        name: String,
    },
    /// Print a one-time link (valid 24 hours) to a page where the person
    /// sets a new password: for someone who forgot theirs, no e-mail server
    /// needed. Using it signs every device of the account out.
    Reset {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        name: String,
        /// Turn two-step verification off and remove the account's
        /// passkeys when the link is used (a lost phone without recovery
        /// codes, or a passkey someone else added).
        #[arg(long)]
        drop_two_step: bool,
        /// The URL people reach the server at [default: the config file's
        /// public_url, else http://LISTEN-ADDRESS].
        #[arg(long, env = "PINLINK_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
    },
    /// Remove an account and everything of it: devices, tokens, pins,
    /// passkeys, its log. Asks first unless --yes.
    Remove {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

impl UserCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            UserCommand::Add {
                data,
                name,
                email,
                password_stdin,
            } => {
                let core = open_core(&data).await?;
                let password = read_password(password_stdin)?;
                let account = core.add_account(&name, &email, password).await?;
                println!(
                    "created account {} (id {})",
                    account.username.as_str(),
                    account.id.0
                );
                Ok(())
            }
            UserCommand::List { data, json } => list(&data, json).await,
            UserCommand::Passwd {
                data,
                name,
                password_stdin,
                sign_out,
            } => {
                let core = open_core(&data).await?;
                core.find_account(&name).await?;
                let password = read_password(password_stdin)?;
                let account = core.set_password(&name, password, sign_out).await?;
                let also = if sign_out {
                    "; every device and browser of it is signed out"
                } else {
                    ""
                };
                println!("set the password of {}{also}", account.username.as_str());
                Ok(())
            }
            UserCommand::Disable { data, name } => {
                let account = open_core(&data).await?.set_disabled(&name, true).await?;
                println!(
                    "disabled {}: it cannot sign in, and its tokens are refused",
                    account.username.as_str()
                );
                Ok(())
            }
            UserCommand::Enable { data, name } => {
                let account = open_core(&data).await?.set_disabled(&name, false).await?;
                println!("enabled {}", account.username.as_str());
                Ok(())
            }
            UserCommand::Reset {
                data,
                name,
                drop_two_step,
                public_url,
            } => {
                let config = build_config(&data, None, public_url)?;
                let base = config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.listen));
                let core = open_core(&data).await?;
                let (account, token, expires) =
                    core.issue_password_reset(&name, drop_two_step).await?;
                println!(
                    "a link for {} to set a new password (once, until {}):",
                    account.username.as_str(),
                    crate::unix_to_date(expires.0)
                );
                println!("{}/reset?token={token}", base.trim_end_matches('/'));
                if drop_two_step {
                    println!(
                        "using it also turns two-step verification off and removes the passkeys"
                    );
                }
                Ok(())
            }
            UserCommand::Remove { data, name, yes } => {
                let core = open_core(&data).await?;
                let found = core.find_account(&name).await?;
                let username = found.account.username.as_str().to_owned();
                if !yes {
                    confirm_removal(&username)?;
                }
                core.remove_account(&username).await?;
                println!("removed {username} and everything of it");
                Ok(())
            }
        }
    }
}

async fn list(data: &DataArgs, json: bool) -> anyhow::Result<()> {
    let core = open_core(data).await?;
    let accounts = core.account_overview().await?;
    if json {
        let list: Vec<_> = accounts
            .iter()
            .map(|o| {
                let a = &o.account;
                serde_json::json!({
                    "id": a.id.0, "uuid": a.uuid, "username": a.username.as_str(),
                    "email": a.email.as_str(), "createdAt": a.created_at.0,
                    "twoStep": o.two_step, "passkeys": o.passkeys, "disabled": o.disabled,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if accounts.is_empty() {
        println!("no accounts yet: create one with `pinlink user add NAME --email EMAIL`");
    } else {
        println!(
            "{:>5}  {:<24} {:<32} {:<8} {:<8} {:<8} CREATED",
            "ID", "USERNAME", "E-MAIL", "TWO-STEP", "PASSKEYS", "STATE"
        );
        for o in &accounts {
            let a = &o.account;
            println!(
                "{:>5}  {:<24} {:<32} {:<8} {:<8} {:<8} {}",
                a.id.0,
                a.username.as_str(),
                a.email.as_str(),
                if o.two_step { "on" } else { "off" },
                o.passkeys,
                if o.disabled { "disabled" } else { "enabled" },
                crate::unix_to_date(a.created_at.0)
            );
        }
    }
    Ok(())
}

/// Asks the operator to type the account's name before it is removed.
fn confirm_removal(username: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("removing {username} cannot be undone: add --yes to remove it without asking");
    }
    print!(
        "Remove {username} and every device, token and log entry of it? Type its name to confirm: "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    if line.trim() != username {
        bail!("not removed: the name typed was not {username}");
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}
