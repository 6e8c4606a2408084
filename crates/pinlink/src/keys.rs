//! `pinlink keys`: the keys Plex JWTs are signed with.

use clap::Subcommand;

use crate::data::{open_core, DataArgs};

/// Plex JWT signing keys. They are derived from the server key and a
/// generation number, so the database holds only the numbers and every
/// instance with the key file signs with the same keys.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Start signing with a new key. The previous one stays published at
    /// /api/v2/auth/keys until the JWTs it signed have expired (7 days);
    /// running servers pick the new key up within a minute.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the signing keys: generation, key id, and until when each is
    /// published.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

impl KeysCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            KeysCommand::Rotate { data } => {
                let core = open_core(&data).await?;
                let (generation, jwk) = core.rotate_signing_key().await?;
                println!("now signing with key {} (generation {generation})", jwk.kid);
                println!(
                    "older keys stay published until the JWTs they signed have expired (7 days)"
                );
                println!(
                    "OpenID Connect's ID token keys (RS256, EdDSA) rotate with it; the old ones \
                     stay in /oauth/jwks for 70 minutes"
                );
                Ok(())
            }
            KeysCommand::List { data } => {
                let core = open_core(&data).await?;
                core.load_signing_keys().await?;
                let (newest, _) = core.newest_signing_key();
                println!("published keys (the newest, generation {newest}, signs):");
                for jwk in core.jwt_keys() {
                    println!("  {}", jwk.kid);
                }
                println!("OpenID Connect keys (/oauth/jwks):");
                let jwks = core.oidc_jwks()?;
                for key in jwks["keys"].as_array().into_iter().flatten() {
                    println!(
                        "  {} ({})",
                        key["kid"].as_str().unwrap_or("?"),
                        key["alg"].as_str().unwrap_or("?")
                    );
                }
                Ok(())
            }
        }
    }
}
