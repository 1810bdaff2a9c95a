//! The workloads issue 15 added: the peers' side of the idle-session scale,
//! 4000 sessions (just under the kernel's default PTY limit), eight
//! sessions draining at once, and spawning from a host that has touched
//! 2 GiB.

use std::time::{Duration, Instant};

use bgterm::SessionBuilder;

use crate::peers::{self, Cell, Idle, Peer};
use crate::{BoxResult, Config, DRAIN_BUFFER, Row, Target, Tracked, measure, raw};

/// Gives freed heap back to the kernel, so that an RSS measured next
/// counts what the next side allocates, not what an earlier side left in
/// the allocator.
pub fn trim_heap() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

// ------------------------------------------------------- scale, peers

/// One peer's figures for `n` idle `cat`s.
pub struct Figures {
    pub start: f64,
    pub answered: usize,
    pub echo_all: f64,
    pub rss: f64,
    pub rss_added: f64,
    pub threads: f64,
    pub close_all: f64,
}

/// A peer's scale result, or why it has none.
pub struct PeerScale(Result<Figures, String>);

impl PeerScale {
    pub fn cell(&self, f: impl FnOnce(&Figures) -> f64) -> Cell {
        match &self.0 {
            Ok(fig) => Cell::Value(f(fig)),
            Err(why) => Cell::Not(why.clone()),
        }
    }

    pub fn start(&self) -> Option<f64> {
        self.0.as_ref().ok().map(|f| f.start)
    }
}

/// Every peer holds `n` idle `cat`s in turn: start all, ping all, check
/// that every one answered, measure, close all.
pub fn scale_peers(n: usize) -> Vec<PeerScale> {
    peers::ALL
        .iter()
        .map(|&peer| {
            let r = scale_peer(peer, n);
            if let Err(e) = &r {
                eprintln!("  scale {}: FAILED: {e}", peer.name());
            }
            PeerScale(r)
        })
        .collect()
}

fn scale_peer(peer: Peer, n: usize) -> Result<Figures, String> {
    trim_heap();
    let rss_before = measure::status_field("VmRSS") as f64 / 1024.0;
    let t = Instant::now();
    let mut all: Vec<Box<dyn Idle>> = Vec::with_capacity(n);
    let started = (0..n).try_for_each(|_| {
        all.push(peer.idle_cat()?);
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    let start = t.elapsed().as_secs_f64();
    if let Err(e) = started {
        let k = all.len();
        let _ = close_all(all);
        return Err(format!("failed after {k} sessions: {e}"));
    }
    eprintln!("  scale: {n} {} sessions started in {start:.2} s", peer.name());
    // Ping all first, then check each: rexpect's expectations sleep
    // 100 ms whenever the answer is not in yet, so one at a time would
    // measure that sleep n times.
    let t = Instant::now();
    let mut answered = 0;
    for s in &mut all {
        if s.send_ping().is_err() {
            continue;
        }
    }
    for s in &mut all {
        if s.answered().is_ok() {
            answered += 1;
        }
    }
    let echo_all = t.elapsed().as_secs_f64();
    let rss = measure::status_field("VmRSS") as f64 / 1024.0;
    let threads = measure::status_field("Threads") as f64;
    let t = Instant::now();
    let closed = close_all(all);
    let close_all = t.elapsed().as_secs_f64();
    closed.map_err(|e| format!("close: {e}"))?;
    Ok(Figures {
        start,
        answered,
        echo_all,
        rss,
        rss_added: rss - rss_before,
        threads,
        close_all,
    })
}

/// Closes every session; reports the first error after trying them all.
fn close_all(all: Vec<Box<dyn Idle>>) -> Result<(), String> {
    let mut first = None;
    for s in all {
        if let Err(e) = s.close() {
            first.get_or_insert(e.to_string());
        }
    }
    first.map_or(Ok(()), Err)
}

// ------------------------------------------------------- 4000 sessions

/// `n` sessions, just under the kernel's default PTY limit (4096): all
/// must answer, and starting them may take at most 4x the time of starting
/// the 1000 of the scale workload (linear growth). Needs `n` free PTYs
/// and ~3n open files; without them, one row says why.
pub fn many(cfg: &Config, small: Option<&crate::Starts>) -> BoxResult<Vec<Row>> {
    let n = cfg.many;
    let w = format!("scale: {n} idle `cat` sessions");
    if let Some(why) = many_blocked(n) {
        eprintln!("compare: {n} sessions cannot run: {why}");
        let mut row = Row::new(&w, "not run", None, None);
        row.failed = Some(why);
        return Ok(vec![row]);
    }
    let (mut rows, starts) = crate::scale_rows(cfg, n, false)?;
    let per = |big: f64, small: f64| big / small;
    let label = format!("start all {n} / start all {}", cfg.sessions);
    let row = match small {
        Some(s) => Row::new(
            &w,
            &label,
            Some(per(starts.raw, s.raw)),
            Some(per(starts.bgterm, s.bgterm)),
        )
        .target(Target::AtMost((n / cfg.sessions) as f64))
        .peers(
            starts
                .peers
                .iter()
                .zip(&s.peers)
                .map(|(b, s)| match (b, s) {
                    (Some(b), Some(s)) => Cell::Value(per(*b, *s)),
                    _ => Cell::Not("a start failed".into()),
                })
                .collect(),
        ),
        None => {
            let mut row = Row::new(&w, &label, None, None);
            row.failed = Some("the scale workload was not run".into());
            row
        }
    };
    rows.insert(1, row);
    Ok(rows)
}

/// Why `n` sessions cannot be held here, if they cannot.
fn many_blocked(n: usize) -> Option<String> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    let (max, used) = (read("/proc/sys/kernel/pty/max"), read("/proc/sys/kernel/pty/nr"));
    if let (Some(max), Some(used)) = (max, used) {
        // Raw, bgterm and the peers hold them one side at a time.
        if max.saturating_sub(used) < n as u64 + 8 {
            return Some(format!(
                "the kernel allows {max} PTYs (kernel.pty.max) and {used} are in use: fewer than {n} free"
            ));
        }
    }
    let need = n as u64 * 3 + 256;
    match crate::raise_fd_limit(need) {
        Ok(have) if have >= need => None,
        Ok(have) => Some(format!(
            "{n} sessions need {need} open files; the limit is {have}"
        )),
        Err(e) => Some(format!("cannot raise the open-file limit to {need}: {e}")),
    }
}

// ------------------------------------------------------- eight drains

/// Eight `cat`s of the same file at once, each read to the end by its own
/// thread; the figure is all bytes over the wall time from the first start
/// to the last byte. Raw (eight blocking loops), bgterm (eight sessions,
/// polled as in the drain row) and each peer, in rotation.
pub fn drain8(cfg: &Config) -> BoxResult<Vec<Row>> {
    const K: usize = 8;
    let file = crate::drain_file(cfg.drain8_bytes)?;
    let file = file.to_str().ok_or("non-UTF-8 target path")?.to_string();
    let sides = 2 + peers::ALL.len();
    let (mut raw_r, mut bg_r) = (Vec::new(), Vec::new());
    let mut bg_problems = Vec::new();
    let mut peer_r: Vec<peers::Tally> = peers::ALL.iter().map(|_| peers::Tally::new()).collect();
    // What each reader receives: the file, with ONLCR's "\r" before
    // every newline.
    let newlines = std::fs::read(&file)?.iter().filter(|&&b| b == b'\n').count() as u64;
    let expect = (cfg.drain8_bytes + newlines) * K as u64;
    for round in 0..cfg.drain8_rounds {
        for side in (0..sides).map(|k| (round + k) % sides) {
            let f = file.as_str();
            let one = move || -> Result<(u64, u64), String> {
                let argv = ["cat", f];
                match side {
                    0 => {
                        let mut p = raw::spawn(&argv).map_err(|e| e.to_string())?;
                        let mut buf = vec![0u8; 64 * 1024];
                        let n = p.read_to_end(&mut buf).map_err(|e| e.to_string())?;
                        p.reap().map_err(|e| e.to_string())?;
                        Ok((n, 0))
                    }
                    1 => bg_drain(&argv).map_err(|e| e.to_string()),
                    _ => peers::ALL[side - 2]
                        .drain(&argv)
                        .map(|n| (n, 0))
                        .map_err(|e| e.to_string()),
                }
            };
            let t = Instant::now();
            let results: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..K).map(|_| s.spawn(one)).collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("a drain thread panicked".into())))
                    .collect()
            });
            let el = t.elapsed().as_secs_f64();
            let mut total = 0u64;
            let mut dropped = 0u64;
            let mut error = None;
            for r in results {
                match r {
                    Ok((n, d)) => {
                        total += n;
                        dropped += d;
                    }
                    Err(e) => error = Some(e),
                }
            }
            let rate = (total + dropped) as f64 / el / 1e6;
            let who = match side {
                0 => "raw",
                1 => "bgterm",
                _ => peers::ALL[side - 2].name(),
            };
            eprintln!("  drain ×{K} {who:<12} {rate:>7.1} MB/s aggregate ({total} bytes, {dropped} dropped)");
            let problem = error.or_else(|| {
                (total + dropped != expect).then(|| format!("{} bytes, not {expect}", total + dropped))
            });
            match side {
                0 => match problem {
                    Some(e) => return Err(format!("raw drain ×{K}: {e}").into()),
                    None => raw_r.push(rate),
                },
                1 => {
                    if dropped > 0 {
                        bg_problems.push(format!("{dropped} bytes dropped"));
                    }
                    if let Some(e) = problem {
                        bg_problems.push(e);
                    }
                    bg_r.push(rate);
                }
                _ => {
                    let peer = peers::ALL[side - 2];
                    peer_r[side - 2].run(peer, "drain ×8", |v| match problem {
                        Some(e) => Err(e.into()),
                        None => {
                            v.push(rate);
                            Ok(())
                        }
                    });
                }
            }
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let n = raw_r.len();
    let name = format!(
        "drain {K} × {:.0} MB at once (aggregate; {} MiB buffers)",
        cfg.drain8_bytes as f64 / 1e6,
        DRAIN_BUFFER >> 20
    );
    let mut row = Row::new(
        &name,
        format!("MB/s, best of {n}"),
        Some(best(&raw_r)),
        Some(best(&bg_r)),
    )
    .target(Target::RatioAtLeast(0.9))
    .peers(peer_r.iter().map(|t| t.cell(best)).collect());
    if !bg_problems.is_empty() {
        bg_problems.dedup();
        row.failed = Some(bg_problems.join("; "));
    }
    Ok(vec![
        row,
        Row::new(
            &name,
            format!("MB/s, median of {n}"),
            Some(measure::median(&raw_r)),
            Some(measure::median(&bg_r)),
        )
        .peers(peer_r.iter().map(|t| t.cell(measure::median)).collect()),
    ])
}

/// One bgterm drain as the drain row does it; returns (read, dropped).
fn bg_drain(argv: &[&str]) -> BoxResult<(u64, u64)> {
    let s = Tracked::spawn(SessionBuilder::new(argv).max_buffer_bytes(DRAIN_BUFFER))?;
    let read = read_to_end(&s.session)?;
    s.close()?;
    Ok(read)
}

/// Polls `session` until its child has exited and everything is read;
/// returns the bytes (read, dropped).
pub fn read_to_end(session: &bgterm::Session) -> BoxResult<(u64, u64)> {
    let (mut n, mut dropped) = (0u64, 0u64);
    loop {
        let out = session.poll_with_limit(Duration::from_secs(60), 1 << 20)?;
        n += out.text.len() as u64;
        dropped += out.dropped_bytes;
        if !out.running && out.remaining_bytes == 0 {
            return Ok((n, dropped));
        }
    }
}

// ------------------------------------------------------- big host

/// Spawn + reap of `true` from this process as it is, then after it has
/// allocated and touched `cfg.big_host_bytes` (2 GiB): every side that
/// forks copies the page tables of that memory on each start. The judged
/// row is each side's big-host p50 over its small-host p50.
pub fn big_host(cfg: &Config) -> BoxResult<Vec<Row>> {
    let small = crate::spawn_rows(cfg.big_host_spawns, 1, ", small host")?;
    let gib = cfg.big_host_bytes as f64 / (1u64 << 30) as f64;
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    eprintln!(
        "  big host: touching {gib} GiB (transparent huge pages: {})",
        thp.trim()
    );
    let mut host = vec![0u8; cfg.big_host_bytes];
    for i in (0..host.len()).step_by(4096) {
        host[i] = 1;
    }
    std::hint::black_box(&mut host);
    let rss = measure::status_field("VmRSS") as f64 / 1024.0;
    eprintln!("  big host: RSS {rss:.0} MiB");
    let big = crate::spawn_rows(cfg.big_host_spawns, 1, &format!(", host touched {gib} GiB"));
    drop(host);
    trim_heap();
    let big = big?;
    // Rows [1] are the p50s.
    let (s, b) = (&small[1], &big[1]);
    let div = |b: Option<f64>, s: Option<f64>| Some(b? / s?);
    let peers = b
        .peers
        .iter()
        .zip(&s.peers)
        .map(|(b, s)| match (b, s) {
            (Cell::Value(b), Cell::Value(s)) => Cell::Value(b / s),
            (Cell::Not(w), _) | (_, Cell::Not(w)) => Cell::Not(w.clone()),
            _ => Cell::Not("no figure".into()),
        })
        .collect();
    let ratio = Row::new(
        format!("spawn `true` + reap: {gib} GiB host / small host"),
        "p50 time ratio (each side its own)",
        div(b.raw, s.raw),
        div(b.bgterm, s.bgterm),
    )
    .target(Target::AtMost(1.2))
    .peers(peers);
    let mut rows = small;
    rows.extend(big);
    rows.push(ratio);
    Ok(rows)
}
