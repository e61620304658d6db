//! Micro-benchmarks of the per-packet paths: record parsing, header decoding, flow
//! lookup, reassembly, frame decoding, RTP statistics, and the whole pipeline on a sample.
//! `cargo bench --bench hot_paths`; figures in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rustc_hash::FxHashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use teardown::capture::{decode, Packet, RawPacket, RecordReader};
use teardown::media::RtpStream;
use teardown::tcp::Reassembler;
use teardown::time::Timestamp;
use teardown::ws::StreamDecoder;

fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/loadrun/load.pcap"
    ))
    .expect("samples/loadrun/load.pcap")
}

fn packets(bytes: &[u8]) -> Vec<RawPacket<'_>> {
    RecordReader::new("load.pcap", 0, bytes).unwrap().collect()
}

fn capture_paths(c: &mut Criterion) {
    let bytes = sample();
    let pkts = packets(&bytes);
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("record_parsing", |b| {
        b.iter(|| {
            RecordReader::new("x", 0, black_box(&bytes))
                .unwrap()
                .count()
        })
    });
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("header_decoding", |b| {
        b.iter(|| pkts.iter().filter(|p| decode(black_box(p)).is_ok()).count())
    });
    let keys: Vec<(SocketAddr, SocketAddr)> = pkts
        .iter()
        .filter_map(|p| match decode(p) {
            Ok(Packet::Tcp(s)) => Some(if s.src <= s.dst {
                (s.src, s.dst)
            } else {
                (s.dst, s.src)
            }),
            _ => None,
        })
        .collect();
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("flow_lookup", |b| {
        b.iter(|| {
            let mut table: FxHashMap<(SocketAddr, SocketAddr), u32> = FxHashMap::default();
            for k in &keys {
                *table.entry(*k).or_default() += 1;
            }
            table.len()
        })
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("pipeline_one_thread", |b| {
        let opts = teardown::Options {
            threads: Some(1),
            ..Default::default()
        };
        b.iter(|| {
            teardown::analyze_bytes("load.pcap", bytes.clone(), &opts)
                .unwrap()
                .sessions
                .len()
        })
    });
    g.finish();
}

fn stream_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream");
    let segment = vec![0x42u8; 1448];
    g.throughput(Throughput::Bytes(1448 * 1000));
    g.bench_function("reassembly_in_order", |b| {
        b.iter(|| {
            let mut r = Reassembler::default();
            r.syn(7);
            let mut n = 0u64;
            for i in 0..1000u32 {
                r.segment(Timestamp(0), 8 + i * 1448, &segment, 0, &mut |_| n += 1);
            }
            n
        })
    });
    // 1000 masked 100-byte text frames, as a client sends them.
    let mut frames = Vec::new();
    for _ in 0..1000 {
        frames.extend_from_slice(&[0x81, 0x80 | 100, 1, 2, 3, 4]);
        frames.extend_from_slice(&[b'x'; 100]);
    }
    g.throughput(Throughput::Bytes(frames.len() as u64));
    g.bench_function("frame_decoding", |b| {
        b.iter(|| {
            let mut d = StreamDecoder::default();
            d.expect_frames();
            let mut out = Vec::new();
            for chunk in frames.chunks(1448) {
                d.feed(Timestamp(0), chunk, &mut out);
            }
            out.len()
        })
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("rtp_update", |b| {
        b.iter(|| {
            let mut s = RtpStream::new(Timestamp(0), 1, 111, 0, 0, None, false);
            for i in 0..10_000u32 {
                s.push(
                    Timestamp(i as i64 * 20_000_000),
                    false,
                    111,
                    i as u16,
                    i * 960,
                    120,
                );
            }
            s.lost
        })
    });
    g.finish();
}

criterion_group!(benches, capture_paths, stream_paths);
criterion_main!(benches);
