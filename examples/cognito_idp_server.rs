//! A Cognito-compatible reference server for the software-token operations. Unmodified AWS
//! clients work against it:
//!
//! ```sh
//! cargo run --release --example cognito_idp_server -- --listen 127.0.0.1:9229
//! aws cognito-idp create-user-pool --pool-name demo --endpoint-url http://127.0.0.1:9229
//! ```
//!
//! It prints `listening on http://ADDR` once ready and serves until killed. Token records and
//! sessions live in memory, or with `--postgres URL` in PostgreSQL (schema `softtoken`, migrated
//! at start). A reference server, not a production IdP: signatures are not checked and the
//! directory (pools, users, access tokens) is per process (see `softtoken::reference_server`).

use std::net::SocketAddr;
use std::sync::Arc;

use softtoken::postgres::PostgresStore;
use softtoken::reference_server::{ReferenceServer, ServerStore, serve};

const USAGE: &str = "usage: cognito_idp_server [--listen HOST:PORT] [--postgres URL]";

/// The command line: where to listen, and the PostgreSQL URL if any.
fn arguments() -> Result<(SocketAddr, Option<String>), String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9229".to_owned();
    let mut postgres = None;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value; {USAGE}")),
        };
        match name.as_str() {
            "--listen" => listen = value,
            "--postgres" => postgres = Some(value),
            other => return Err(format!("unknown argument {other}; {USAGE}")),
        }
    }
    let address = listen
        .parse()
        .map_err(|error| format!("--listen {listen}: {error}"))?;
    Ok((address, postgres))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (address, postgres) = arguments()?;
    let store = match postgres {
        Some(url) => {
            let store = PostgresStore::connect(&url, "softtoken", 16)?;
            store.migrate().await?;
            ServerStore::Postgres(store)
        }
        None => ServerStore::default(),
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, Arc::new(ReferenceServer::with_store(store))).await?;
    Ok(())
}
