//! `pinlink user`: the operator's commands for accounts.

use std::io::{BufRead, IsTerminal};

use anyhow::bail;
use clap::Subcommand;

use crate::data::{open_core, DataArgs};

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
    /// List accounts.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
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
            UserCommand::List { data, json } => {
                let core = open_core(&data).await?;
                let accounts = core.accounts().await?;
                if json {
                    let list: Vec<_> = accounts
                        .iter()
                        .map(|a| {
                            serde_json::json!({
                                "id": a.id.0, "uuid": a.uuid, "username": a.username.as_str(),
                                "email": a.email.as_str(), "createdAt": a.created_at.0,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if accounts.is_empty() {
                    println!(
                        "no accounts yet: create one with `pinlink user add NAME --email EMAIL`"
                    );
                } else {
                    println!("{:>5}  {:<24} {:<32} CREATED", "ID", "USERNAME", "E-MAIL");
                    for a in &accounts {
                        println!(
                            "{:>5}  {:<24} {:<32} {}",
                            a.id.0,
                            a.username.as_str(),
                            a.email.as_str(),
                            crate::unix_to_date(a.created_at.0)
                        );
                    }
                }
                Ok(())
            }
        }
    }
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
