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
//!
//! A request body over 1 MiB (`softtoken::reference_server::wire::MAX_BODY_BYTES`) is refused
//! with HTTP 400 `SerializationException` before it is read whole (a `Content-Length` over
//! the limit before any of it); every member has a length bound (the table in
//! `softtoken::reference_server`). `--help` prints both.

use std::net::SocketAddr;
use std::sync::Arc;

use softtoken::postgres::PostgresStore;
use softtoken::reference_server::{ReferenceServer, ServerStore, serve};

const USAGE: &str = "usage: cognito_idp_server [--listen HOST:PORT] [--postgres URL]";

/// `--help`.
const HELP: &str = "\
A Cognito-compatible reference server for the software-token (TOTP) MFA operations.

usage: cognito_idp_server [--listen HOST:PORT] [--postgres URL]

  --listen HOST:PORT  where to serve AWS JSON 1.1 (default 127.0.0.1:9229)
  --postgres URL      keep token records and sessions in PostgreSQL (schema softtoken)
  --help              this text

Limits: a request body over 1 MiB (1048576 bytes) is refused with HTTP 400
SerializationException before it is read whole (a Content-Length over the limit
before any of it is read; a chunked body as soon as it passes the limit), and the
connection is closed. Members (characters): PoolName, ClientName, ClientId 1..128;
UserPoolId 1..55; Username 1..128; Password, TemporaryPassword up to 256;
AccessToken 1..8192; Session 20..2048; UserCode 6 digits; FriendlyDeviceName up to
131072. Outside a bound: InvalidParameterException.";

/// The command line: where to listen, and the PostgreSQL URL if any; `None` after `--help`.
fn arguments() -> Result<Option<(SocketAddr, Option<String>)>, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9229".to_owned();
    let mut postgres = None;
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{HELP}");
            return Ok(None);
        }
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
    Ok(Some((address, postgres)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some((address, postgres)) = arguments()? else {
        return Ok(());
    };
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
