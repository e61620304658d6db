//! Helpers shared by the integration tests: paths, running the binary, reading the
//! ground truth written by `samples/record.sh`, and asking tshark.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use teardown::session::{Direction, EventKind};
use teardown::time::Timestamp;
use teardown::{Analysis, Options};

/// The repository's `samples/` folder.
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// `../shared/captures`, when this checkout has it.
pub fn shared_captures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    p.is_dir().then_some(p)
}

/// `../shared/captures` for the oracle test `test`; `None` once [`skip`] has said it is
/// not here.
pub fn shared_captures_for(test: &str) -> Option<PathBuf> {
    let dir = shared_captures();
    if dir.is_none() {
        skip(test, "../shared/captures is not here");
    }
    dir
}

/// [`shared_captures_for`], and `None` as well when tshark is missing ([`tshark_missing`]).
pub fn shared_captures_with_tshark(test: &str) -> Option<PathBuf> {
    let dir = shared_captures_for(test)?;
    (!tshark_missing(test)).then_some(dir)
}

/// Runs the `teardown` binary; returns exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("run teardown");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Analyses paths with the library.
pub fn analyze(paths: &[PathBuf], ws_ports: &[u16]) -> Analysis {
    let opts = Options {
        ws_ports: ws_ports.to_vec(),
        ..Options::default()
    };
    teardown::analyze(paths, &opts).expect("analysis")
}

/// One row of a `*.truth.tsv` file: what the real client library saw.
#[derive(Debug, Clone)]
pub struct Truth {
    pub scenario: String,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub verdict: String,
    pub observed: Option<u16>,
    /// What the recording client or server noted (free text).
    pub detail: String,
}

/// Reads a truth file written by `samples/ws_lab.py`.
pub fn truth(name: &str) -> Vec<Truth> {
    let text =
        std::fs::read_to_string(samples().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("scenario") && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 7, "{name}: short line {l:?}");
            let ip = |s: &str| s.trim().parse::<std::net::IpAddr>().unwrap();
            Truth {
                scenario: f[0].to_string(),
                client: SocketAddr::new(ip(f[1]), f[2].trim().parse().unwrap()),
                server: SocketAddr::new(ip(f[3]), f[4].trim().parse().unwrap()),
                verdict: f[5].trim().to_string(),
                observed: f[6].trim().parse().ok(),
                detail: f.get(7).map_or("", |d| d.trim()).to_string(),
            }
        })
        .collect()
}

/// Frames of one direction of one connection: count per opcode, and the close codes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DirFrames {
    pub opcodes: BTreeMap<u8, u64>,
    pub close_codes: Vec<u16>,
}

/// True when `CI=true` (or `1`) is set, as CI sets it.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// An oracle test that cannot run here (no tshark, no chromium, no `../shared/captures`).
/// Under `CI=true` that fails the test, since a skipped oracle would look exactly like a
/// pass; locally it prints why, and the caller returns.
pub fn skip(test: &str, why: &str) {
    assert!(!on_ci(), "{test}: oracle skipped under CI: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// True, after [`skip`] says so, when tshark is not installed: an oracle test returns.
pub fn tshark_missing(test: &str) -> bool {
    let missing = !have_tshark();
    if missing {
        skip(test, "tshark is not installed (apt-get install tshark)");
    }
    missing
}

/// True when tshark is installed.
pub fn have_tshark() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// tshark's `-T fields` reading of `file`: one row per packet that `filter` keeps, one
/// cell per field, in the order asked.
pub fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_fields_keyed(file, None, filter, fields)
}

/// [`tshark_fields`], decrypting TLS with `keylog` (NSS key log format) when given.
pub fn tshark_fields_keyed(
    file: &Path,
    keylog: Option<&Path>,
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    if let Some(k) = keylog {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    cmd.args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

/// What tshark decodes as WebSocket in `file`, keyed by (sender, receiver).
pub fn tshark_frames(file: &Path) -> HashMap<(SocketAddr, SocketAddr), DirFrames> {
    tshark_frames_keyed(file, None)
}

/// [`tshark_frames`], decrypting TLS with `keylog` when given.
pub fn tshark_frames_keyed(
    file: &Path,
    keylog: Option<&Path>,
) -> HashMap<(SocketAddr, SocketAddr), DirFrames> {
    let mut cmd = Command::new("tshark");
    if let Some(k) = keylog {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    let out = cmd
        // Without this option tshark 4.0 frames a reordered stream in arrival order and
        // decodes garbage (reserved opcodes) in samples/lossy.pcap; with it, it reorders
        // as we do.
        .args(["-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r"])
        .arg(file)
        .args([
            "-Y",
            "websocket",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ])
        .args([
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "tcp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.dst",
            "-e",
            "tcp.dstport",
        ])
        .args([
            "-e",
            "websocket.opcode",
            "-e",
            "websocket.payload.close.status_code",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: HashMap<(SocketAddr, SocketAddr), DirFrames> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('|').collect();
        let src_ip = if f[0].is_empty() { f[1] } else { f[0] };
        let dst_ip = if f[3].is_empty() { f[4] } else { f[3] };
        let addr =
            |ip: &str, port: &str| SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap());
        let key = (addr(src_ip, f[2]), addr(dst_ip, f[5]));
        let entry = map.entry(key).or_default();
        for op in f[6].split(',').filter(|s| !s.is_empty()) {
            *entry.opcodes.entry(op.parse().unwrap()).or_default() += 1;
        }
        for code in f[7].split(',').filter(|s| !s.is_empty()) {
            entry.close_codes.push(code.parse().unwrap());
        }
    }
    map
}

/// The same facts from our analysis.
pub fn our_frames(a: &Analysis) -> HashMap<(SocketAddr, SocketAddr), DirFrames> {
    let mut map = HashMap::new();
    for s in &a.sessions {
        for (dir, st, key) in [
            (Direction::ClientToServer, &s.c2s, (s.client, s.server)),
            (Direction::ServerToClient, &s.s2c, (s.server, s.client)),
        ] {
            let mut d = DirFrames::default();
            for (op, n) in [
                (0u8, st.continuation_frames),
                (1, st.text_frames),
                (2, st.binary_frames),
                (8, st.close_frames),
                (9, st.pings),
                (10, st.pongs),
            ] {
                if n > 0 {
                    d.opcodes.insert(op, n);
                }
            }
            d.close_codes = s
                .timeline
                .iter()
                .filter(|e| e.direction == dir)
                .filter_map(|e| match &e.kind {
                    EventKind::Close { code: Some(c), .. } => Some(*c),
                    _ => None,
                })
                .collect();
            if !d.opcodes.is_empty() {
                map.insert(key, d);
            }
        }
    }
    map
}

/// A tshark `frame.time_epoch` (`1795888608.148217000`) in nanoseconds since the epoch.
pub fn epoch_ns(s: &str) -> i64 {
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<9}");
    sec.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap()
}

/// A little-endian pcap file split into records, for tests that damage captures.
#[derive(Clone)]
pub struct Pcap {
    /// The 24-byte global header.
    pub header: Vec<u8>,
    /// Each record: its 16-byte header and its data.
    pub records: Vec<([u8; 16], Vec<u8>)>,
}

impl Pcap {
    /// Reads a little-endian pcap.
    pub fn read(path: &Path) -> Pcap {
        let b = std::fs::read(path).unwrap();
        assert_eq!(
            &b[..4],
            &0xa1b2_c3d4u32.to_le_bytes(),
            "tests expect a little-endian µs pcap"
        );
        let mut records = Vec::new();
        let mut pos = 24;
        while pos + 16 <= b.len() {
            let hdr: [u8; 16] = b[pos..pos + 16].try_into().unwrap();
            let caplen = u32::from_le_bytes(hdr[8..12].try_into().unwrap()) as usize;
            records.push((hdr, b[pos + 16..pos + 16 + caplen].to_vec()));
            pos += 16 + caplen;
        }
        Pcap {
            header: b[..24].to_vec(),
            records,
        }
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        for (h, d) in &self.records {
            out.extend_from_slice(h);
            out.extend_from_slice(d);
        }
        out
    }

    /// Writes the file into `dir` as `name`, returning its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, self.bytes()).unwrap();
        p
    }

    /// Byte offset where record `i` starts.
    pub fn offset_of(&self, i: usize) -> usize {
        24 + self.records[..i]
            .iter()
            .map(|(_, d)| 16 + d.len())
            .sum::<usize>()
    }

    /// Record `i`'s timestamp in nanoseconds.
    pub fn ts(&self, i: usize) -> i64 {
        let h = &self.records[i].0;
        let sec = u32::from_le_bytes(h[0..4].try_into().unwrap()) as i64;
        let usec = u32::from_le_bytes(h[4..8].try_into().unwrap()) as i64;
        sec * 1_000_000_000 + usec * 1000
    }
}

/// Time 0 of a [`Craft`] capture, µs since the Unix epoch: 2025-12-03 12:00 UTC.
pub const CRAFT_EPOCH_US: u64 = 1_764_763_200_000_000;

/// A capture crafted packet by packet (Ethernet, IPv4, checksums right), for the cases no
/// recorded sample shows: little-endian, microsecond timestamps.
#[derive(Default)]
pub struct Craft {
    records: Vec<(u64, Vec<u8>)>,
}

/// TCP flags of a crafted segment.
#[derive(Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
}

impl Craft {
    /// A UDP datagram at `t_us` microseconds.
    pub fn udp(&mut self, t_us: u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
            panic!("IPv4 only")
        };
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(s.ip().octets(), d.ip().octets(), 64)
            .udp(s.port(), d.port())
            .write(&mut frame, payload)
            .unwrap();
        self.records.push((t_us, frame));
    }

    /// A TCP segment at `t_us` microseconds (window 65535, no options).
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        t_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: Flags,
        payload: &[u8],
    ) {
        let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
            panic!("IPv4 only")
        };
        let mut b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(s.ip().octets(), d.ip().octets(), 64)
            .tcp(s.port(), d.port(), seq, 65535);
        if flags.syn {
            b = b.syn();
        }
        if flags.ack {
            b = b.ack(ack);
        }
        if flags.fin {
            b = b.fin();
        }
        if flags.rst {
            b = b.rst();
        }
        if flags.psh {
            b = b.psh();
        }
        let mut frame = Vec::new();
        b.write(&mut frame, payload).unwrap();
        self.records.push((t_us, frame));
    }

    /// A frame as given (damaged ones included).
    pub fn raw(&mut self, t_us: u64, frame: Vec<u8>) {
        self.records.push((t_us, frame));
    }

    /// Writes the capture into `dir` as `name`, records in the order they were added.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let mut out = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for (t, frame) in &self.records {
            let abs = CRAFT_EPOCH_US + t;
            for v in [
                (abs / 1_000_000) as u32,
                (abs % 1_000_000) as u32,
                frame.len() as u32,
                frame.len() as u32,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(frame);
        }
        let p = dir.join(name);
        std::fs::write(&p, out).unwrap();
        p
    }
}

/// A TCP conversation between 10.0.0.1 (client) and 10.0.0.2:9999, written as a raw-IP
/// pcap segment by segment, 1 ms apart: for captures crafted by a test.
pub struct Conv {
    client_port: u16,
    /// Next sequence number, client then server.
    seq: [u32; 2],
    /// Time of the next segment, µs after 1 700 000 000 s.
    t: u64,
    out: Vec<u8>,
}

/// A pcap header (raw IP, µs) for captures made of [`Conv`]s.
pub fn raw_ip_pcap_header() -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 101] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

impl Conv {
    /// A connection from `client_port`, starting `t_ms` ms in, with its handshake.
    pub fn open(client_port: u16, t_ms: u64) -> Conv {
        let mut c = Conv {
            client_port,
            seq: [1000, 5000],
            t: t_ms * 1000,
            out: Vec::new(),
        };
        c.segment(true, 0x02, &[]);
        c.seq[0] += 1;
        c.segment(false, 0x12, &[]);
        c.seq[1] += 1;
        c.segment(true, 0x10, &[]);
        c
    }

    fn segment(&mut self, from_client: bool, flags: u8, data: &[u8]) {
        let (d, o) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst) = if from_client { (1u8, 2u8) } else { (2, 1) };
        let (sport, dport) = if from_client {
            (self.client_port, 9999)
        } else {
            (9999, self.client_port)
        };
        let len = 40 + data.len();
        let mut p = vec![
            0x45,
            0,
            (len >> 8) as u8,
            len as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend_from_slice(&[10, 0, 0, src, 10, 0, 0, dst]);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&self.seq[d].to_be_bytes());
        let ack = if flags & 0x10 != 0 { self.seq[o] } else { 0 };
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(data);
        let (sec, us) = (1_700_000_000 + self.t / 1_000_000, self.t % 1_000_000);
        for x in [sec as u32, us as u32, p.len() as u32, p.len() as u32] {
            self.out.extend_from_slice(&x.to_le_bytes());
        }
        self.out.extend_from_slice(&p);
        self.seq[d] = self.seq[d].wrapping_add(data.len() as u32);
        self.t += 1000;
    }

    /// Sends `data` in segments of at most 1400 bytes.
    pub fn send(&mut self, from_client: bool, data: &[u8]) -> &mut Conv {
        for piece in data.chunks(1400) {
            self.segment(from_client, 0x18, piece);
        }
        self
    }

    /// Both sides send a FIN (client first) and the last ACK.
    pub fn close(&mut self) -> Vec<u8> {
        self.segment(true, 0x11, &[]);
        self.seq[0] += 1;
        self.segment(false, 0x11, &[]);
        self.seq[1] += 1;
        self.segment(true, 0x10, &[]);
        std::mem::take(&mut self.out)
    }
}

/// A WebSocket frame (FIN set); masked with a fixed key when `masked` (client frames).
pub fn ws_frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let key = [1, 2, 3, 4];
    if masked {
        f.extend_from_slice(&key);
    }
    f.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }),
    );
    f
}

/// A whole WebSocket session on a [`Conv`]: `request` (an upgrade head), the RFC 6455
/// §1.3 101, a text message each way, a client close 1000 answered, FINs.
pub fn ws_session(client_port: u16, t_ms: u64, request: &[u8]) -> Vec<u8> {
    let mut c = Conv::open(client_port, t_ms);
    c.send(true, request).send(
        false,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    c.send(true, &ws_frame(1, b"hello", true))
        .send(false, &ws_frame(1, b"world", false))
        .send(true, &ws_frame(8, &1000u16.to_be_bytes(), true))
        .send(false, &ws_frame(8, &1000u16.to_be_bytes(), false));
    c.close()
}

/// An upgrade request head for `path` with `extra` header lines (each ending in `\r\n`).
pub fn upgrade_head(path: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut h = b"GET ".to_vec();
    h.extend_from_slice(path);
    h.extend_from_slice(
        b" HTTP/1.1\r\nHost: 10.0.0.2:9999\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    h.extend_from_slice(extra);
    h.extend_from_slice(b"\r\n");
    h
}

/// One second in µs, for [`Capture`] times.
pub const S: u64 = 1_000_000;

/// The time `us` µs into a crafted capture.
pub fn craft_ts(us: u64) -> Timestamp {
    Timestamp(((CRAFT_EPOCH_US + us) * 1000) as i64)
}

/// The signalling server of [`Capture::call`].
pub const CALL_SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 8080);

/// One packet of a [`Capture`].
enum Packet {
    Tcp {
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: Flags,
        payload: Vec<u8>,
    },
    Udp {
        src: SocketAddr,
        dst: SocketAddr,
        payload: Vec<u8>,
    },
}

/// How a crafted [`Call`] ends, at its `end_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client's close frame with this code, the server's answer, the server's FIN
    /// then the client's.
    ClientClose(u16),
    /// The server's close frame with this code, the client's answer, the server's FIN
    /// then the client's.
    ServerClose(u16),
    /// The server's RST.
    ServerRst,
    /// The upgrade was answered with this HTTP status (at `answer_us`, no frames); the
    /// server's FIN then the client's.
    Rejected(u16),
    /// A client text frame, and nothing more: still open when the capture ends.
    Open,
}

/// A WebSocket call of a [`Capture`]: SYN at `start_us`, SYN-ACK 100 µs and ACK 200 µs
/// later, the upgrade request at 300 µs, its answer at `answer_us` (the 101, unless
/// `Rejected`), a client text frame carrying `offer` 100 µs after it when given, and the
/// ending at `end_us`.
#[derive(Clone, Debug)]
pub struct Call {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub start_us: u64,
    pub answer_us: u64,
    pub offer: Option<String>,
    pub end_us: u64,
    pub ending: Ending,
}

/// Packets of a crafted capture, written in time order (Ethernet, IPv4, µs).
#[derive(Default)]
pub struct Capture {
    packets: Vec<(u64, Packet)>,
}

impl Capture {
    /// A UDP datagram at `t_us`.
    pub fn udp(&mut self, t_us: u64, src: SocketAddr, dst: SocketAddr, payload: Vec<u8>) {
        self.packets.push((t_us, Packet::Udp { src, dst, payload }));
    }

    /// The packets of `call`.
    pub fn ws_call(&mut self, call: &Call) {
        assert!(call.answer_us >= call.start_us + 400 && call.end_us > call.answer_us + 100);
        let (client, server) = (call.client, call.server);
        let (mut c, mut s) = (1000u32, 5000u32);
        let flags = |syn, fin, psh| Flags {
            syn,
            ack: !syn,
            fin,
            psh,
            rst: false,
        };
        let mut seg = |t: u64, from_client: bool, f: Flags, payload: Vec<u8>| {
            let (src, dst, seq, ack) = if from_client {
                (client, server, c, s)
            } else {
                (server, client, s, c)
            };
            let len = payload.len() as u32 + u32::from(f.syn || f.fin);
            if from_client {
                c += len;
            } else {
                s += len;
            }
            self.packets.push((
                t,
                Packet::Tcp {
                    src,
                    dst,
                    seq,
                    ack,
                    flags: f,
                    payload,
                },
            ));
        };
        let t0 = call.start_us;
        seg(t0, true, flags(true, false, false), vec![]);
        seg(
            t0 + 100,
            false,
            Flags {
                syn: true,
                ack: true,
                ..Flags::default()
            },
            vec![],
        );
        seg(t0 + 200, true, flags(false, false, false), vec![]);
        seg(
            t0 + 300,
            true,
            flags(false, false, true),
            upgrade_head(b"/call", b""),
        );
        let answer: &[u8] = match call.ending {
            Ending::Rejected(503) => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
            }
            Ending::Rejected(status) => panic!("no crafted answer for HTTP {status}"),
            _ => {
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
            }
        };
        seg(
            call.answer_us,
            false,
            flags(false, false, true),
            answer.to_vec(),
        );
        if let Some(offer) = &call.offer {
            let json = format!(
                r#"{{"type":"offer","sdp":"{}"}}"#,
                offer.replace("\r\n", "\\r\\n")
            );
            seg(
                call.answer_us + 100,
                true,
                flags(false, false, true),
                ws_frame(1, json.as_bytes(), true),
            );
        }
        let t = call.end_us;
        let close = |code: u16, masked| ws_frame(8, &code.to_be_bytes(), masked);
        let fins = |seg: &mut dyn FnMut(u64, bool, Flags, Vec<u8>), from: u64| {
            seg(from, false, flags(false, true, false), vec![]);
            seg(from + 100, true, flags(false, true, false), vec![]);
            seg(from + 200, false, flags(false, false, false), vec![]);
        };
        match call.ending {
            Ending::ClientClose(code) => {
                seg(t, true, flags(false, false, true), close(code, true));
                seg(
                    t + 100,
                    false,
                    flags(false, false, true),
                    close(code, false),
                );
                fins(&mut seg, t + 200);
            }
            Ending::ServerClose(code) => {
                seg(t, false, flags(false, false, true), close(code, false));
                seg(t + 100, true, flags(false, false, true), close(code, true));
                fins(&mut seg, t + 200);
            }
            Ending::ServerRst => seg(
                t,
                false,
                Flags {
                    rst: true,
                    ack: true,
                    ..Flags::default()
                },
                vec![],
            ),
            Ending::Rejected(_) => fins(&mut seg, t),
            Ending::Open => seg(
                t,
                true,
                flags(false, false, true),
                ws_frame(1, b"still here", true),
            ),
        }
    }

    /// A call from `client` to [`CALL_SERVER`], answered 101 at 400 µs, an offer carrying
    /// `sdp` right after, and at `close_us` the client's close frame 1000 (the teardown
    /// start).
    pub fn call(&mut self, client: SocketAddr, start_us: u64, sdp: &str, close_us: u64) {
        self.ws_call(&Call {
            client,
            server: CALL_SERVER.into(),
            start_us,
            answer_us: start_us + 400,
            offer: Some(sdp.to_string()),
            end_us: close_us,
            ending: Ending::ClientClose(1000),
        });
    }

    /// `n` RTP packets of `ssrc` (PCMU, 20 ms apart) from `first_us`.
    pub fn rtp(&mut self, src: SocketAddr, dst: SocketAddr, ssrc: u32, first_us: u64, n: u16) {
        for i in 0..n {
            self.udp(
                first_us + u64::from(i) * 20_000,
                src,
                dst,
                rtp(i, u32::from(i) * 160, ssrc),
            );
        }
    }

    /// A STUN Binding request at `t_us` (USERNAME `username`), answered `answer_after_us`
    /// later when given.
    pub fn check(
        &mut self,
        t_us: u64,
        from: SocketAddr,
        to: SocketAddr,
        username: &str,
        answer_after_us: Option<u64>,
    ) {
        let mut txid = [0u8; 12];
        txid[..8].copy_from_slice(&t_us.to_be_bytes());
        txid[8..10].copy_from_slice(&from.port().to_be_bytes());
        self.udp(t_us, from, to, stun(0x0001, txid, Some(username)));
        if let Some(after) = answer_after_us {
            self.udp(t_us + after, to, from, stun(0x0101, txid, None));
        }
    }

    /// Writes the capture (packets sorted by time) into a temporary folder and analyzes
    /// it with the default options.
    pub fn analyze(mut self, name: &str) -> Analysis {
        self.packets.sort_by_key(|p| p.0);
        let mut k = Craft::default();
        for (t, p) in self.packets {
            match p {
                Packet::Tcp {
                    src,
                    dst,
                    seq,
                    ack,
                    flags,
                    payload,
                } => k.tcp(t, src, dst, seq, ack, flags, &payload),
                Packet::Udp { src, dst, payload } => k.udp(t, src, dst, &payload),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = k.write(dir.path(), name);
        teardown::analyze(&[path], &Options::default()).expect("analysis")
    }
}

/// A STUN message (RFC 8489) of `msg_type` with an optional USERNAME.
pub fn stun(msg_type: u16, txid: [u8; 12], username: Option<&str>) -> Vec<u8> {
    let mut attrs = Vec::new();
    if let Some(u) = username {
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(u.len() as u16).to_be_bytes());
        attrs.extend_from_slice(u.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
    }
    let mut b = msg_type.to_be_bytes().to_vec();
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(&0x2112_a442u32.to_be_bytes());
    b.extend_from_slice(&txid);
    b.extend_from_slice(&attrs);
    b
}

/// An SDP body with `lines` (each a whole `x=...` line) after the session lines.
pub fn sdp(lines: &[&str]) -> String {
    let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s
}

/// An SDP that joins nothing but says it is SDP (an ICE-only offer on 0.0.0.0).
pub fn sdp_ufrag(ufrag: &str) -> String {
    sdp(&[
        "c=IN IP4 0.0.0.0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        &format!("a=ice-ufrag:{ufrag}"),
    ])
}

/// An RTP packet (V=2, PCMU, 160 bytes of payload).
pub fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut b = vec![0x80, 0];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.resize(12 + 160, 0xd5);
    b
}
