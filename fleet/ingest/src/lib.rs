//! glance-ingest: the fleet's front door. Screens send NDJSON batches of records with their
//! token; each batch is checked line by line against the record types, bound to the token's
//! screen, and stored in ClickHouse in one INSERT with every id at most once, then acknowledged.
//! ClickHouse itself never faces the screens. The operator's guide is docs/fleet.md.

pub mod app;
pub mod clickhouse;
pub mod config;
pub mod read;
pub mod rules;

use std::net::SocketAddr;

pub use app::router;
pub use config::{Config, hash_token, new_token};

/// Serves until `shutdown` resolves: HTTPS when the configuration names a certificate, plain
/// HTTP otherwise. `listener` is already bound (tests bind port 0).
pub async fn serve(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(&config).into_make_service();
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    match &config.tls {
        Some(tls) => {
            // One process-wide crypto provider; a second install (tests) is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(app)
                .await
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(app)
                .await
        }
    }
}

/// Where `serve` listens, for logs.
pub fn describe(config: &Config, addr: SocketAddr) -> String {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}/v1/records")
}
