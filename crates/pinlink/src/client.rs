//! `pinlink client`: the applications that sign devices in with the
//! standard OAuth 2.0 device grant (RFC 8628).

use clap::Subcommand;

use crate::data::{open_core, DataArgs};

/// OAuth clients of the device grant. Each gets a `client_id`; a
/// confidential one also a `client_secret`, shown once and stored only as a
/// keyed hash. Devices linked through a client are listed with its name.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an application and print its client_id (and secret).
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The name people see on the confirmation screen and in their
        /// device list.
        name: String,
        /// Give it a client_secret (for a server-side app that can keep one;
        /// devices cannot, RFC 8628 §5.6, so the default is a public client).
        #[arg(long)]
        confidential: bool,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered applications.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an application: its pending codes stop working, and the
    /// devices linked through it lose their tokens at once.
    Remove {
        #[command(flatten)]
        data: DataArgs,
        /// Its client_id.
        client_id: String,
    },
}

impl ClientCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            ClientCommand::Add {
                data,
                name,
                confidential,
                json,
            } => {
                let core = open_core(&data).await?;
                let (application, secret) = core.add_application(&name, confidential).await?;
                if json {
                    let out = serde_json::json!({
                        "client_id": application.id.as_str(),
                        "client_secret": secret,
                    });
                    println!("{out}");
                } else {
                    println!("registered {:?}", application.name);
                    println!("client_id:     {}", application.id);
                    if let Some(secret) = secret {
                        println!("client_secret: {secret}");
                        println!("(shown only now: pinlink keeps only a hash of it)");
                    }
                }
                Ok(())
            }
            ClientCommand::List { data, json } => {
                let core = open_core(&data).await?;
                let applications = core.applications().await?;
                if json {
                    let list: Vec<_> = applications
                        .iter()
                        .map(|a| {
                            serde_json::json!({
                                "client_id": a.id.as_str(), "name": a.name,
                                "confidential": a.confidential, "createdAt": a.created_at.0,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if applications.is_empty() {
                    println!("no clients yet: register one with `pinlink client add NAME`");
                } else {
                    println!("{:<24} {:<13} {:<24} NAME", "CLIENT_ID", "TYPE", "CREATED");
                    for a in &applications {
                        let kind = if a.confidential {
                            "confidential"
                        } else {
                            "public"
                        };
                        println!(
                            "{:<24} {:<13} {:<24} {}",
                            a.id,
                            kind,
                            crate::unix_to_date(a.created_at.0),
                            a.name
                        );
                    }
                }
                Ok(())
            }
            ClientCommand::Remove { data, client_id } => {
                let core = open_core(&data).await?;
                if core.remove_application(&client_id).await? {
                    println!("removed {client_id}: its devices' tokens no longer work");
                    Ok(())
                } else {
                    anyhow::bail!("no client with id {client_id:?} (see `pinlink client list`)")
                }
            }
        }
    }
}
