//! Micro-benchmarks of the pure parts: the ring buffer, the incremental
//! decoder and the key-name parser. Run with `cargo bench --bench micro`.
//!
//! The ring and the decoder are crate-private: their files are pure (they
//! name nothing else of the crate), so they are compiled into this bench
//! by path, and the bench measures exactly the code the sessions run.

use std::hint::black_box;

#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/engine/decode.rs"]
mod decode;
#[allow(dead_code, unreachable_pub, unused_imports)]
#[path = "../src/engine/ring.rs"]
mod ring;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use decode::{DecodeErrors, TextDecoder};
use ring::Ring;

/// What a PTY read typically hands over: at most one line-discipline
/// buffer (4 KiB) of mostly-ASCII terminal text.
const CHUNK: usize = 4096;

/// Terminal-like text: ASCII lines with some multi-byte characters and
/// colour escapes; exactly `len` bytes of valid UTF-8.
fn text(len: usize) -> String {
    let line = "\x1b[32mok\x1b[0m line of output, café ünïcode → 12345 done\r\n";
    let mut s = line.repeat(len / line.len() + 1);
    let mut cut = len;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.extend(std::iter::repeat_n(' ', len - cut));
    s
}

fn ring(c: &mut Criterion) {
    let chunk = text(CHUNK).into_bytes();
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    // Push into a ring that never fills (a reader keeps up).
    g.bench_function("push 4 KiB, reader keeps up", |b| {
        let mut r = Ring::new(1 << 20);
        b.iter(|| {
            r.push(black_box(&chunk));
            black_box(r.take(usize::MAX));
        });
    });
    // Push into a full ring: every push evicts (nobody reads).
    g.bench_function("push 4 KiB into a full 1 MiB ring", |b| {
        let mut r = Ring::new(1 << 20);
        while r.unread() < 1 << 20 {
            r.push(&chunk);
        }
        b.iter(|| r.push(black_box(&chunk)));
    });
    g.finish();

    let mut g = c.benchmark_group("ring take");
    for size in [4096usize, 65536, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let data = text(size).into_bytes();
            let mut r = Ring::new(1 << 20);
            b.iter(|| {
                r.push(&data);
                black_box(r.take(size))
            });
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for size in [CHUNK, 65536] {
        let data = text(size);
        let sjis = bgterm::encoding_rs::SHIFT_JIS.encode(&data).0.into_owned();
        let data = data.into_bytes();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("utf-8", size), &data, |b, data| {
            let mut d = TextDecoder::new(bgterm::encoding_rs::UTF_8, DecodeErrors::Replace);
            b.iter(|| black_box(d.decode(black_box(data))));
        });
        // Chunk boundaries that split characters: the held-back path.
        g.bench_with_input(
            BenchmarkId::new("utf-8 split mid-character", size),
            &data,
            |b, data| {
                let mut d = TextDecoder::new(bgterm::encoding_rs::UTF_8, DecodeErrors::Replace);
                let cut = data.iter().position(|&b| b >= 0x80).map_or(1, |i| i + 1);
                b.iter(|| {
                    let _ = black_box(d.decode(&data[..cut]));
                    black_box(d.decode(&data[cut..]))
                });
            },
        );
        g.throughput(Throughput::Bytes(sjis.len() as u64));
        g.bench_with_input(BenchmarkId::new("shift_jis", size), &sjis[..], |b, data| {
            let mut d = TextDecoder::new(bgterm::encoding_rs::SHIFT_JIS, DecodeErrors::Replace);
            b.iter(|| black_box(d.decode(black_box(data))));
        });
    }
    g.finish();
}

fn keys(c: &mut Criterion) {
    use bgterm::{CursorKeys, encode_keys};
    let mut g = c.benchmark_group("keys");
    g.bench_function("one name (C-c)", |b| {
        b.iter(|| encode_keys(black_box(["C-c"]), CursorKeys::Normal));
    });
    g.bench_function("modified arrow (S-Up), application mode", |b| {
        b.iter(|| encode_keys(black_box(["S-Up"]), CursorKeys::Application));
    });
    // A typical interactive burst: text, editing keys and Enter.
    let burst: Vec<&str> = [
        "ls -l", "Enter", "C-r", "git", "Escape", "M-b", "Left", "Right", "BSpace", "Tab",
    ]
    .into_iter()
    .cycle()
    .take(100)
    .collect();
    g.throughput(Throughput::Elements(burst.len() as u64));
    g.bench_function("100 mixed keys", |b| {
        b.iter(|| encode_keys(black_box(&burst), CursorKeys::Normal));
    });
    g.finish();
}

criterion_group!(benches, ring, decode, keys);
criterion_main!(benches);
