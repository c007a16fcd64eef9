//! A Cognito-compatible reference server for the software-token operations, on the embedded
//! `MemoryStore`. Unmodified AWS clients work against it:
//!
//! ```sh
//! cargo run --release --example cognito_idp_server -- --listen 127.0.0.1:9229
//! aws cognito-idp create-user-pool --pool-name demo --endpoint-url http://127.0.0.1:9229
//! ```
//!
//! It prints `listening on http://ADDR` once ready and serves until killed. A reference server,
//! not a production IdP: signatures are not checked and state lives in memory (see
//! `softtoken::reference_server`).

use std::net::SocketAddr;
use std::sync::Arc;

use softtoken::reference_server::{ReferenceServer, serve};

fn listen_address() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9229".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            other => {
                if let Some(value) = other.strip_prefix("--listen=") {
                    listen = value.to_owned();
                } else {
                    return Err(format!(
                        "unknown argument {other}; usage: --listen HOST:PORT"
                    ));
                }
            }
        }
    }
    listen
        .parse()
        .map_err(|error| format!("--listen {listen}: {error}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = listen_address()?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, Arc::new(ReferenceServer::new())).await?;
    Ok(())
}
