//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Portcullis: authentication server for single-page apps.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Configuration file (TOML); PORTCULLIS_SECTION__KEY variables override it.
    #[arg(long, short, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Listen on this address instead of server.bind.
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Demo mode: a temporary database (deleted at exit) with the user test/test; secrets
        /// not configured are ephemeral. Refused when store.url or server.data_dir is set.
        /// Listens on --bind, else server.bind (default 127.0.0.1:8000).
        #[arg(long)]
        demo: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the access-token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Move the data between stores.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the HTTP API's OpenAPI 3.1 document (what `GET /openapi.json` serves).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// Username.
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// Set an account's password and end all its sessions.
    Passwd {
        /// Username.
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lift every lockout on an account, from every client address and device. Running
    /// servers apply it within a second.
    Unlock {
        /// Username.
        name: String,
    },
    /// List accounts.
    List,
    /// List the accounts whose usernames, made before the RFC 8265 rules, collide with another
    /// account's or are refused by the rules (each is also logged at start-up).
    Names,
    /// Create accounts from another app's export, keeping their password hashes.
    ///
    /// FILE is CSV with a `username,password_hash[,roles][,email]` header (roles `;`-separated) or
    /// JSON lines (`{"username", "password_hash", "roles": [..], "email"}`). Hashes may be werkzeug
    /// pbkdf2/scrypt, bcrypt or argon2; each becomes argon2id at the user's first login. Existing
    /// usernames are skipped, never overwritten.
    Import {
        /// The CSV or JSON-lines file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every account, role, session, remember-me series and audit row from one store into
    /// another, empty one, then read both back and compare them.
    ///
    /// Stop the servers using FROM first. Example:
    /// `portcullis store migrate --from sqlite:///var/lib/portcullis/portcullis.db --to postgres://auth@db/portcullis`
    Migrate {
        /// The store to copy (`sqlite://PATH` or `postgres://...`).
        #[arg(long)]
        from: String,
        /// The empty store to fill (created and migrated if needed).
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; older keys stay published until their tokens have expired.
    /// Restart the server to start signing with it.
    Rotate,
}
