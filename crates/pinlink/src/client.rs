//! `pinlink client`: the applications that sign devices in with the
//! standard OAuth 2.0 device grant (RFC 8628).

use clap::{Args, Subcommand, ValueEnum};
use pinlink_core::{ApplicationSettings, IdTokenAlg};

use crate::data::{open_core, DataArgs};

/// How an application's tokens are made.
#[derive(Args)]
pub struct TokenArgs {
    /// Seconds its access tokens work; a device refreshes them with the
    /// refresh token it is given (rotated at every use). 0: they work until
    /// revoked, with no refresh token. At most a year (31622400)
    /// [default for a new client: 3600]
    #[arg(long, value_name = "SECONDS")]
    access_token_lifetime: Option<i64>,
    /// How its OpenID Connect ID tokens are signed: RS256 (OpenID Connect's
    /// mandatory algorithm, which every library accepts) or EdDSA (Ed25519)
    /// [default for a new client: RS256]
    #[arg(long, value_name = "ALG", ignore_case = true)]
    id_token_alg: Option<AlgArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum AlgArg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<AlgArg> for IdTokenAlg {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Rs256 => IdTokenAlg::Rs256,
            AlgArg::EdDsa => IdTokenAlg::EdDsa,
        }
    }
}

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
        /// Only a confidential client may introspect tokens (RFC 7662).
        #[arg(long)]
        confidential: bool,
        #[command(flatten)]
        tokens: TokenArgs,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change how an application's tokens are made (from the next token
    /// issued on).
    Set {
        #[command(flatten)]
        data: DataArgs,
        /// Its client_id.
        client_id: String,
        #[command(flatten)]
        tokens: TokenArgs,
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
                tokens,
                json,
            } => {
                let core = open_core(&data).await?;
                let defaults = ApplicationSettings::default();
                let settings = ApplicationSettings {
                    access_token_lifetime_secs: tokens
                        .access_token_lifetime
                        .unwrap_or(defaults.access_token_lifetime_secs),
                    id_token_alg: tokens
                        .id_token_alg
                        .map_or(defaults.id_token_alg, IdTokenAlg::from),
                };
                let (application, secret) =
                    core.add_application(&name, confidential, settings).await?;
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
            ClientCommand::Set {
                data,
                client_id,
                tokens,
            } => {
                if tokens.access_token_lifetime.is_none() && tokens.id_token_alg.is_none() {
                    anyhow::bail!(
                        "nothing to change: give --access-token-lifetime or --id-token-alg"
                    );
                }
                let core = open_core(&data).await?;
                let application = match core
                    .set_application_settings(
                        &client_id,
                        tokens.access_token_lifetime,
                        tokens.id_token_alg.map(IdTokenAlg::from),
                    )
                    .await
                {
                    Err(pinlink_core::CoreError::InvalidClient) => {
                        anyhow::bail!("no client with id {client_id:?} (see `pinlink client list`)")
                    }
                    other => other?,
                };
                println!(
                    "{}: access tokens work {}, ID tokens signed {}",
                    application.id,
                    describe_lifetime(application.access_token_lifetime_secs),
                    application.id_token_alg.as_str()
                );
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
                                "accessTokenLifetime": a.access_token_lifetime_secs,
                                "idTokenAlg": a.id_token_alg.as_str(),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if applications.is_empty() {
                    println!("no clients yet: register one with `pinlink client add NAME`");
                } else {
                    println!(
                        "{:<24} {:<13} {:<24} {:<10} {:<6} NAME",
                        "CLIENT_ID", "TYPE", "CREATED", "LIFETIME", "ID_ALG"
                    );
                    for a in &applications {
                        let kind = if a.confidential {
                            "confidential"
                        } else {
                            "public"
                        };
                        println!(
                            "{:<24} {:<13} {:<24} {:<10} {:<6} {}",
                            a.id,
                            kind,
                            crate::unix_to_date(a.created_at.0),
                            describe_lifetime(a.access_token_lifetime_secs),
                            a.id_token_alg.as_str(),
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

/// An access-token lifetime as people read it: `3600s`, or `forever`.
fn describe_lifetime(secs: i64) -> String {
    if secs == 0 {
        "forever".to_owned()
    } else {
        format!("{secs}s")
    }
}
