//! `pinlink resource`: an account's servers, declared for an app's CI.

use clap::Subcommand;

use crate::data::{open_core, DataArgs};

/// An account's servers: what `/api/v2/resources` lists. Plex Media
/// Servers publish themselves (`PUT /devices/{clientIdentifier}`); in an
/// app's CI there is none, so an operator declares one.
#[derive(Subcommand)]
pub enum ResourceCommand {
    /// Declare a server for an account: listed with this name and one
    /// connection, and a token of its own as its accessToken.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// The server's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// How to reach it, e.g. http://192.168.1.10:32400.
        #[arg(long, value_name = "URI")]
        uri: String,
    },
}

impl ResourceCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            ResourceCommand::Add {
                data,
                user,
                name,
                uri,
            } => {
                let core = open_core(&data).await?;
                let client = core.declare_resource(&user, &name, &uri).await?;
                println!("declared server {name:?} ({client}) for {user}, at {uri}");
                Ok(())
            }
        }
    }
}
