//! The `run` workload: `Session::run` against the same turn by hand, and a
//! large output collected by `run` while two busy threads load the cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bgterm::{Pattern, RunOptions, SessionBuilder};

use crate::measure::{median, percentile};
use crate::{BoxResult, Config, Row, Target, Tracked, raw};

const WARMUP: usize = 50;
/// Turns per side in a row before the other side's.
const BLOCK: usize = 50;
const TURN_TIMEOUT: Duration = Duration::from_secs(10);
/// The prompt mark a set-up shell prints after a command that exited 0
/// (the nonce is private, so any hex).
const DONE_MARK: &str = r"\x1b\]133;D;0;aid=[0-9a-f]+\x07";
const SEQ_COMMAND: &str = "seq 1 2000000";
const SEQ_LAST: u32 = 2_000_000;
/// What `seq 1 2000000 | wc -c` says.
const SEQ_BYTES: u64 = 14_888_896;
/// Head and tail kept: each alone holds the whole output.
const SEQ_KEEP: usize = 16 << 20;

/// A `for_run` shell, set up by one `run`.
fn shell(buffer: Option<usize>) -> BoxResult<Tracked> {
    let mut b = SessionBuilder::new(["sh"]).for_run();
    if let Some(n) = buffer {
        b = b.max_buffer_bytes(n);
    }
    let s = Tracked::spawn(b)?;
    let r = s.session.run("true", Some(Duration::from_secs(30)))?;
    if r.exit_code != 0 || !r.output.is_empty() {
        return Err(format!("setup run: {r:?}").into());
    }
    Ok(s)
}

/// Both rows of the workload.
pub fn run(cfg: &Config) -> BoxResult<Vec<Row>> {
    let mut rows = round_trip(cfg)?;
    rows.extend(seq_under_load(cfg)?);
    Ok(rows)
}

/// `run("echo hi")` against a hand-made turn on an identical shell:
/// `output_offset`, `send`, `wait_for_from` the prompt mark. Both shells
/// are set up and warmed up first, then measured in alternating blocks of
/// [`BLOCK`] turns: a whole loop lasts only ~0.1 s, so rounds of whole
/// loops (as `repl` does) would let one burst of another process's work
/// land on one side only. The order flips every block and the two shells
/// trade sides every two blocks, so neither side keeps the shell the
/// scheduler happens to place better.
fn round_trip(cfg: &Config) -> BoxResult<Vec<Row>> {
    let mark = Pattern::regex(DONE_MARK)?;
    let shells = [shell(None)?, shell(None)?];
    let turn = |which: usize, shell: usize| -> BoxResult<f64> {
        let s = &shells[shell].session;
        let t = Instant::now();
        if which == 0 {
            let at = s.output_offset()?;
            s.send("echo hi\n")?;
            let m = s.wait_for_from(at, &mark, Some(TURN_TIMEOUT))?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if m.before != "hi\r\n" || !m.text.ends_with('\x07') {
                return Err(format!("run by hand: got {:?} then {:?}", m.before, m.text).into());
            }
            Ok(us)
        } else {
            let r = s.run("echo hi", Some(TURN_TIMEOUT))?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if r.output != "hi\n" || r.exit_code != 0 || r.elided_bytes != 0 {
                return Err(format!("Session::run: got {r:?}").into());
            }
            Ok(us)
        }
    };
    for which in [0, 1] {
        for shell in [0, 1] {
            for _ in 0..WARMUP {
                turn(which, shell)?;
            }
        }
    }
    let mut us: [Vec<f64>; 2] = Default::default();
    for block in 0..cfg.run_trips.div_ceil(BLOCK) {
        for which in if block % 2 == 0 { [0, 1] } else { [1, 0] } {
            let shell = which ^ (block / 2 % 2);
            for _ in 0..BLOCK {
                us[which].push(turn(which, shell)?);
            }
        }
    }
    for s in shells {
        s.close()?;
    }
    let [mut hand_us, mut run_us] = us;
    let name = format!("run: `echo hi` in sh ({} each)", run_us.len());
    let metric = |p: &str| format!("{p} µs (raw: send + wait_for_from)");
    Ok(vec![
        Row::new(
            &name,
            metric("p50"),
            Some(percentile(&mut hand_us, 50.0)),
            Some(percentile(&mut run_us, 50.0)),
        )
        .target(Target::RatioAtMost(1.2)),
        Row::new(
            &name,
            metric("p99"),
            Some(percentile(&mut hand_us, 99.0)),
            Some(percentile(&mut run_us, 99.0)),
        )
        .target(Target::RatioAtMost(1.2)),
    ])
}

/// Two host threads spinning until dropped (then joined).
struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Spinners {
    fn start(n: usize) -> Spinners {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `run_with("seq 1 2000000")` keeping all of it, in a shell with the
/// default buffer and one with a 4096-byte buffer, against the raw PTY
/// drain of `seq` itself, all while two threads spin. Rounds rotate the
/// three sides.
fn seq_under_load(cfg: &Config) -> BoxResult<Vec<Row>> {
    let mut expected = String::with_capacity(SEQ_BYTES as usize);
    for k in 1..=SEQ_LAST {
        expected += &k.to_string();
        expected.push('\n');
    }
    if expected.len() as u64 != SEQ_BYTES {
        return Err(format!("expected text is {} bytes", expected.len()).into());
    }
    // The terminal sends each "\n" as "\r\n".
    let raw_expected = SEQ_BYTES + u64::from(SEQ_LAST);
    let shells = [shell(None)?, shell(Some(4096))?];
    let opts = RunOptions::new()
        .timeout(Some(Duration::from_secs(120)))
        .head_bytes(SEQ_KEEP)
        .tail_bytes(SEQ_KEEP);
    let argv: Vec<&str> = SEQ_COMMAND.split(' ').collect();
    let mut buf = vec![0u8; 64 * 1024];
    // ms[0]: raw; ms[1]: default buffer; ms[2]: 4096 B.
    let mut ms: [Vec<f64>; 3] = Default::default();
    let mut missed = [0u64; 2];
    let mut problems: [Vec<String>; 2] = Default::default();
    {
        let _load = Spinners::start(2);
        for round in 0..cfg.run_seq_rounds {
            for k in 0..3 {
                let side = (round + k) % 3;
                let t = Instant::now();
                if side == 0 {
                    let mut p = raw::spawn(&argv)?;
                    let n = p.read_to_end(&mut buf)?;
                    let el = t.elapsed().as_secs_f64();
                    p.reap()?;
                    if n != raw_expected {
                        return Err(format!("raw seq: {n} bytes, not {raw_expected}").into());
                    }
                    ms[0].push(el * 1e3);
                    eprintln!(
                        "  run seq raw      {:>7.0} ms ({:.1} MB/s)",
                        el * 1e3,
                        n as f64 / el / 1e6
                    );
                    continue;
                }
                let r = shells[side - 1].session.run_with(SEQ_COMMAND, &opts)?;
                let el = t.elapsed().as_secs_f64();
                ms[side].push(el * 1e3);
                missed[side - 1] += r.missed_bytes;
                let p = &mut problems[side - 1];
                if r.missed_bytes != 0 {
                    p.push(format!("{} bytes missed", r.missed_bytes));
                }
                if r.elided_bytes != 0 {
                    p.push(format!("{} bytes elided", r.elided_bytes));
                }
                if r.total_bytes != SEQ_BYTES {
                    p.push(format!("{} bytes, not {SEQ_BYTES}", r.total_bytes));
                }
                if r.exit_code != 0 {
                    p.push(format!("exit code {}", r.exit_code));
                }
                if r.output != expected {
                    p.push("output differs from the expected text".into());
                }
                eprintln!(
                    "  run seq bgterm {:<7} buffer: {:>7.0} ms ({:.1} MB/s), {} missed, {} total",
                    ["default", "4096 B"][side - 1],
                    el * 1e3,
                    r.total_bytes as f64 / el / 1e6,
                    r.missed_bytes,
                    r.total_bytes
                );
            }
        }
    }
    for s in shells {
        s.close()?;
    }
    let n = cfg.run_seq_rounds;
    let raw_ms = median(&ms[0]);
    let mut rows = Vec::new();
    for (i, buffer) in ["default buffer", "4096 B buffer"].into_iter().enumerate() {
        let mut row = Row::new(
            format!("run: `{SEQ_COMMAND}` (14.9 MB), 2 busy threads, {buffer}"),
            format!("ms, median of {n}; {} missed (raw: PTY drain)", missed[i]),
            Some(raw_ms),
            Some(median(&ms[i + 1])),
        );
        if !problems[i].is_empty() {
            row.failed = Some(problems[i].join("; "));
        }
        rows.push(row);
    }
    Ok(rows)
}
