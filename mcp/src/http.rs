//! The Streamable HTTP transport: loopback unless `--allow-remote`, a bearer
//! token on every request (401 without it), `Host` and `Origin` validated
//! (403 on a bad Origin), and a request size limit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};

use crate::core::Core;
use crate::server::Server;

/// A fresh random token (hex).
fn generate_token() -> Result<String, String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| format!("cannot generate a token: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

async fn auth(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.trim(), &token) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response(),
    }
}

/// Serves MCP over HTTP on `addr` until `stop` resolves.
pub async fn serve(
    args: &crate::Args,
    addr: SocketAddr,
    core: Arc<Core>,
    stop: impl Future<Output = &'static str> + Send + 'static,
) -> Result<(), String> {
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(format!(
            "refusing to listen on non-loopback address {addr}: pass --allow-remote to allow it"
        ));
    }
    let token = match &args.token {
        Some(t) if t.len() >= 16 => t.clone(),
        Some(_) => return Err("--token must be at least 16 characters".into()),
        None => {
            let t = generate_token()?;
            eprintln!("bgterm-mcp: bearer token (send as 'Authorization: Bearer <token>'): {t}");
            t
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.push(local.ip().to_string());
    hosts.extend(args.allow_host.iter().cloned());
    let mut origins: Vec<String> = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]
        .into_iter()
        .map(String::from)
        .collect();
    origins.extend(args.allow_origin.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(args.max_request_bytes);
    let ct = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(Server::new(Arc::clone(&core))),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(Arc::new(token), auth))
        .layer(DefaultBodyLimit::max(args.max_request_bytes));
    eprintln!("bgterm-mcp: serving MCP over HTTP at http://{local}/mcp");
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = quit_rx.await;
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r.map_err(|e| format!("HTTP server failed: {e}")),
        sig = stop => {
            eprintln!("bgterm-mcp: {sig}");
            ct.cancel();
            let _ = quit_tx.send(());
            // Open event streams get a moment to end; the sessions are
            // closed either way once this returns.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
            Ok(())
        }
    }
}
