//! The MCP side: tool declarations (rmcp), each calling the blocking
//! [`Core`] off the async threads under the server's ceiling, and the audit
//! line per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::core::{Core, ToolResult};
use crate::params::*;

/// What the server tells an agent at initialize.
pub const INSTRUCTIONS: &str = "Terminals for agents: programs run on pseudo-terminals in the background; \
every call waits for its answer and returns the moment it is there. Wait, don't poll.
- Shell commands: run_command (a persistent shell: cd and variables persist; you get exactly the output and \
the exit code). If it times out (running=true), call read_output on that session to wait for the rest; \
send_keys [\"C-c\"] interrupts.
- REPLs: start_session python3, ipython, node or sqlite3 (or any program with `prompt`), then write_stdin \
with one input: the answer is exactly the reply (no echo, no prompt). Other interactive programs: \
write_stdin with `until` set to the prompt regex.
- TUIs (vim, less): send_keys, then capture_screen; a program on the alternate screen is answered with its \
rendered screen (view=screen); wait_for_text with source=screen waits for text on it.
Output is clean text (raw=true keeps control sequences); long output keeps head and tail, and a command's \
whole output stays readable by line (read_output from_line/line_count, as the reply says). \
Close sessions you no longer need (close_session).";

/// The MCP server: one per client connection, all sharing one [`Core`].
#[derive(Clone)]
pub struct Server {
    core: Arc<Core>,
    tool_router: ToolRouter<Self>,
}

fn into_result(r: ToolResult) -> CallToolResult {
    match r {
        Ok(reply) => {
            let mut res = CallToolResult::success(vec![ContentBlock::text(reply.text)]);
            res.structured_content = Some(reply.data);
            res
        }
        Err(msg) => CallToolResult::error(vec![ContentBlock::text(msg)]),
    }
}

impl Server {
    /// A server over `core`.
    pub fn new(core: Arc<Core>) -> Server {
        Server {
            core,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` on a blocking thread. Every wait inside ends by the
    /// ceiling; the outer timeout is a backstop so a result always comes.
    async fn blocking(&self, f: impl FnOnce(&Core) -> ToolResult + Send + 'static) -> CallToolResult {
        let core = Arc::clone(&self.core);
        let backstop = core.cfg.max_wait + Duration::from_secs(2);
        let task = tokio::task::spawn_blocking(move || f(&core));
        into_result(match tokio::time::timeout(backstop, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(format!(
                "internal error: the call failed ({join}); the server carries on"
            )),
            Err(_) => Err(format!(
                "internal error: the call did not finish within the server's ceiling ({} ms)",
                backstop.as_millis()
            )),
        })
    }
}

#[tool_router]
impl Server {
    #[tool(
        description = "Start a program on its own terminal (argv or shell command). Returns its session id, \
        pid and first output (waits yield_ms, or until `until` matches). python3, ipython, node, sqlite3 (or \
        any program given `prompt`) start as REPL sessions: write_stdin evaluates one input and returns \
        exactly its reply; repl=false opts out. At the session cap, exited then least recently used sessions \
        are closed (listed in `pruned`)."
    )]
    async fn start_session(&self, Parameters(p): Parameters<StartSession>) -> CallToolResult {
        self.blocking(move |c| c.start_session(p)).await
    }

    #[tool(
        description = "Run a shell command to completion in a persistent shell (created on first use; cd and \
        variables persist) and return exactly its output and exit code. On timeout returns the output so far \
        with running=true: call read_output on the session to continue. A second command while one runs is \
        refused (busy, naming it). The whole output (up to 16 MiB: the first and last 8) stays pageable by \
        line with read_output from_line/line_count."
    )]
    async fn run_command(&self, Parameters(p): Parameters<RunCommand>) -> CallToolResult {
        self.blocking(move |c| c.run_command(p)).await
    }

    #[tool(
        description = "Send text and/or tmux key names to a session, then wait up to yield_ms for output: \
        returns early when `until` (regex) matches the new output, or after settle_ms of quiet. On a REPL \
        session, text is one input and the answer its exact reply (waits up to yield_ms, default 10000; \
        turn_open=true if it is still running: read_output resumes, C-c interrupts)."
    )]
    async fn write_stdin(&self, Parameters(p): Parameters<WriteStdin>) -> CallToolResult {
        self.blocking(move |c| c.write_stdin(p)).await
    }

    #[tool(
        description = "Return the session's unread output, waiting as write_stdin does; follows a command \
        run_command left running (command_exit_code when it ends) or a REPL turn still open. With \
        from_line/line_count: those lines of the last command's whole output instead."
    )]
    async fn read_output(&self, Parameters(p): Parameters<ReadOutput>) -> CallToolResult {
        self.blocking(move |c| c.read_output(p)).await
    }

    #[tool(
        description = "Wait until one of several patterns (literal, or regex) appears in the unread output or \
        on the rendered screen (source=screen, works under a TUI's alternate screen). Says which matched and \
        whether it was already there. A timeout is matched=false, not an error."
    )]
    async fn wait_for_text(&self, Parameters(p): Parameters<WaitForText>) -> CallToolResult {
        self.blocking(move |c| c.wait_for_text(p)).await
    }

    #[tool(
        description = "The rendered screen (or lines start..end of scrollback) as text, with cursor, size and \
        alternate-screen flag: for TUIs."
    )]
    async fn capture_screen(&self, Parameters(p): Parameters<CaptureScreen>) -> CallToolResult {
        self.blocking(move |c| c.capture_screen(p)).await
    }

    #[tool(
        description = "Send key presses by tmux name (C-c, Enter, Escape, Up, F5, M-x, ...) or literal \
        text, then wait for output as write_stdin does."
    )]
    async fn send_keys(&self, Parameters(p): Parameters<SendKeys>) -> CallToolResult {
        self.blocking(move |c| c.send_keys(p)).await
    }

    #[tool(
        description = "All open sessions: id, name, pid, command, cwd, state, exit status, size, idle time."
    )]
    async fn list_sessions(&self) -> CallToolResult {
        self.blocking(|c| c.list_sessions()).await
    }

    #[tool(description = "One session's details (as list_sessions, plus cursor and alternate-screen flag).")]
    async fn session_info(&self, Parameters(p): Parameters<SessionOnly>) -> CallToolResult {
        self.blocking(move |c| c.session_info(p)).await
    }

    #[tool(
        description = "Search the scrollback of one or all sessions for a text or regex; returns matching \
        lines with session and line number."
    )]
    async fn search_output(&self, Parameters(p): Parameters<SearchOutput>) -> CallToolResult {
        self.blocking(move |c| c.search_output(p)).await
    }

    #[tool(description = "Change a session's terminal size.")]
    async fn resize_session(&self, Parameters(p): Parameters<ResizeSession>) -> CallToolResult {
        self.blocking(move |c| c.resize_session(p)).await
    }

    #[tool(
        description = "Stop a session's program gracefully: SIGTERM, then SIGKILL after grace_ms. The \
        session stays readable until closed."
    )]
    async fn stop_session(&self, Parameters(p): Parameters<StopSession>) -> CallToolResult {
        self.blocking(move |c| c.stop_session(p)).await
    }

    #[tool(description = "Close a session: kill its process group, reap it, free its id.")]
    async fn close_session(&self, Parameters(p): Parameters<SessionOnly>) -> CallToolResult {
        self.blocking(move |c| c.close_session(p)).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bgterm-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let tool = request.name.to_string();
        let args = request.arguments.clone();
        let tcc = ToolCallContext::new(self, request, context);
        let r = self.tool_router.call(tcc).await;
        let outcome = match &r {
            Ok(CallToolResponse::Complete(res)) if res.is_error == Some(true) => "tool_error",
            Ok(_) => "ok",
            Err(_) => "rejected",
        };
        crate::audit::log(
            &tool,
            args.as_ref(),
            started.elapsed().as_secs_f64() * 1e3,
            outcome,
        );
        r
    }
}
