//! `bgterm-mcp`: an MCP server giving AI agents terminals (programs on
//! pseudo-terminals in the background), on the bgterm library. Stdio by
//! default; `--http ADDR` for Streamable HTTP with a bearer token.
//!
//! Nothing but MCP messages is written to stdout; logs go to stderr.

mod audit;
mod core;
mod http;
mod params;
mod server;
mod shell;
mod text;
mod turns;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rmcp::ServiceExt;

/// MCP server: terminals for AI agents, no tmux required.
///
/// The allow/deny lists and --cwd-root are guard rails against mistakes,
/// not a sandbox: an allowed shell can run anything the user can.
#[derive(Debug, Parser)]
#[command(name = "bgterm-mcp", version)]
struct Args {
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8765) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Allow --http to bind a non-loopback address.
    #[arg(long)]
    allow_remote: bool,
    /// Bearer token HTTP clients must send (default: generated and printed to stderr).
    #[arg(long, env = "BGTERM_MCP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra allowed browser Origin for HTTP, as scheme://host:port; loopback origins are always allowed.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Extra allowed Host for HTTP (needed with --allow-remote).
    #[arg(long, value_name = "HOST")]
    allow_host: Vec<String>,
    /// Largest HTTP request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_request_bytes: usize,
    /// Most open sessions; at the cap exited then least recently used ones are closed.
    #[arg(long, default_value_t = 64)]
    max_sessions: usize,
    /// Ceiling of every wait in milliseconds: a call always returns by then.
    #[arg(long, default_value_t = 30_000)]
    max_wait_ms: u64,
    /// Only these programs may be started (name or path; repeat or comma-separate). Guard rail, not a sandbox.
    #[arg(long, value_delimiter = ',')]
    allow: Vec<String>,
    /// These programs may not be started (name or path). Guard rail, not a sandbox.
    #[arg(long, value_delimiter = ',')]
    deny: Vec<String>,
    /// Working directories must lie under this one (also the default cwd). Guard rail, not a sandbox.
    #[arg(long, value_name = "DIR")]
    cwd_root: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if args.max_sessions == 0 || args.max_wait_ms == 0 {
        eprintln!("bgterm-mcp: --max-sessions and --max-wait-ms must be at least 1");
        std::process::exit(2);
    }
    let cwd_root = match args
        .cwd_root
        .as_ref()
        .map(|d| d.canonicalize().map_err(|e| (d, e)))
        .transpose()
    {
        Ok(r) => r,
        Err((d, e)) => {
            eprintln!("bgterm-mcp: bad --cwd-root {:?}: {e}", d.display().to_string());
            std::process::exit(2);
        }
    };
    let cfg = core::Config {
        max_sessions: args.max_sessions,
        max_wait: Duration::from_millis(args.max_wait_ms),
        allow: (!args.allow.is_empty()).then(|| args.allow.clone()),
        deny: args.deny.clone(),
        cwd_root,
    };
    let core = Arc::new(core::Core::new(cfg));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(256)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgterm-mcp: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(serve(args, Arc::clone(&core)));
    // Whatever ended the server (client gone, signal, error): no orphans.
    let n = core.close_all();
    eprintln!("bgterm-mcp: closed {n} session(s); exiting");
    rt.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

/// Serves until the client disconnects or a signal arrives; the exit code.
async fn serve(args: Args, core: Arc<core::Core>) -> i32 {
    let stop = shutdown_signal();
    if let Some(addr) = args.http {
        return match http::serve(&args, addr, core, stop).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bgterm-mcp: {e}");
                1
            }
        };
    }
    // Learn of stdin's end at once: calls still waiting would otherwise
    // hold the shutdown for rmcp's drain period.
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel();
    let stdin = EofSignal {
        inner: tokio::io::stdin(),
        eof: Some(eof_tx),
    };
    let serving = server::Server::new(Arc::clone(&core)).serve((stdin, tokio::io::stdout()));
    let service = match serving.await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bgterm-mcp: initialization failed: {e}");
            return 1;
        }
    };
    let waiting = service.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        r = &mut waiting => {
            if let Err(e) = r { eprintln!("bgterm-mcp: {e}"); }
            eprintln!("bgterm-mcp: client disconnected");
        }
        _ = eof_rx => {
            eprintln!("bgterm-mcp: client disconnected (stdin closed)");
            // Closing the sessions ends the calls still waiting on them.
            let n = tokio::task::spawn_blocking(move || core.close_all()).await.unwrap_or(0);
            eprintln!("bgterm-mcp: closed {n} session(s)");
            let _ = tokio::time::timeout(Duration::from_secs(2), waiting).await;
        }
        sig = stop => eprintln!("bgterm-mcp: {sig}"),
    }
    0
}

/// Stdin that reports its end of file on a channel.
struct EofSignal<R> {
    inner: R,
    eof: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for EofSignal<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &r
            && buf.filled().len() == before
            && buf.remaining() > 0
            && let Some(tx) = self.eof.take()
        {
            let _ = tx.send(());
        }
        r
    }
}

/// Resolves on SIGINT or SIGTERM, naming it. The handlers are installed
/// here, at the call, not at the first poll: a signal that comes before the
/// future is first polled (while the client initializes) is not the
/// default action's, which would kill the server with its sessions open.
fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            eprintln!("bgterm-mcp: cannot install signal handlers");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}
