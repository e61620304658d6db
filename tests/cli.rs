//! The command line: output formats, identical results across container formats and
//! byte orders, rotated sets, exit codes and messages, and every session's timeline (JSON
//! and the `timeline` command) event by event against tshark.

mod common;

use common::*;

fn csv(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.lines().count() > 1, "no rows: {out}");
    out
}

#[test]
fn pcap_and_pcapng_give_byte_identical_csv() {
    let pcap = samples().join("scenarios.pcap");
    let ng = samples().join("scenarios.pcapng");
    let a = csv(&[
        "sessions",
        "--format",
        "csv",
        "--ws-port",
        "9999",
        pcap.to_str().unwrap(),
    ]);
    let b = csv(&[
        "sessions",
        "--format",
        "csv",
        "--ws-port",
        "9999",
        ng.to_str().unwrap(),
    ]);
    assert_eq!(a, b);
    let header = a.lines().next().unwrap();
    assert!(header.starts_with(
        "session_id,client_ip,client_port,server_ip,server_port,start_ts,end_ts,handshake_status,verdict,\
         teardown_initiator,teardown_start_ts,close_code,client_observed_code,frames_c2s,frames_s2c"
    ));
}

/// Rewrites a little-endian pcap as big-endian (what a SPARC or PowerPC tcpdump writes).
fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(le.len());
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
    out.extend_from_slice(&u32_at(le, 0).to_be_bytes());
    out.extend_from_slice(&u16_at(le, 4).to_be_bytes());
    out.extend_from_slice(&u16_at(le, 6).to_be_bytes());
    for i in [8, 12, 16, 20] {
        out.extend_from_slice(&u32_at(le, i).to_be_bytes());
    }
    let mut pos = 24;
    while pos + 16 <= le.len() {
        let caplen = u32_at(le, pos + 8) as usize;
        for i in 0..4 {
            out.extend_from_slice(&u32_at(le, pos + 4 * i).to_be_bytes());
        }
        out.extend_from_slice(&le[pos + 16..pos + 16 + caplen]);
        pos += 16 + caplen;
    }
    out
}

#[test]
fn big_endian_copy_gives_identical_csv() {
    let pcap = samples().join("scenarios.pcap");
    let dir = tempfile::tempdir().unwrap();
    let be = dir.path().join("scenarios-be.pcap");
    std::fs::write(&be, to_big_endian(&std::fs::read(&pcap).unwrap())).unwrap();
    let a = csv(&["sessions", "--format", "csv", pcap.to_str().unwrap()]);
    let b = csv(&["sessions", "--format", "csv", be.to_str().unwrap()]);
    assert_eq!(a, b);
}

#[test]
fn rotated_files_in_any_order_equal_the_folder() {
    let dir = samples().join("loadrun");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    files.sort();
    files.reverse();
    let mut args = vec!["sessions", "--format", "csv"];
    args.extend(files.iter().map(|s| s.as_str()));
    let from_files = csv(&args);
    let from_dir = csv(&["sessions", "--format", "csv", dir.to_str().unwrap()]);
    assert_eq!(from_files, from_dir);
}

#[test]
fn thread_count_does_not_change_results() {
    let dir = samples().join("loadrun");
    let one = csv(&[
        "sessions",
        "--format",
        "csv",
        "--threads",
        "1",
        dir.to_str().unwrap(),
    ]);
    let two = csv(&[
        "sessions",
        "--format",
        "csv",
        "--threads",
        "2",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(one, two);
}

fn session_id_of(csv_text: &str, path: &str) -> String {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == "http_path").unwrap();
    let row = rdr
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[col] == path)
        .unwrap_or_else(|| panic!("no session {path}"));
    row[0].to_string()
}

#[test]
fn timeline_marks_the_server_reset() {
    let pcap = samples().join("scenarios.pcap");
    let p = pcap.to_str().unwrap();
    let id = session_id_of(
        &csv(&["sessions", "--format", "csv", p]),
        "/server_rst_no_close",
    );
    let (code, out, err) = run(&["timeline", p, "--session", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "verdict server_rst_no_close (teardown started by server), client observed 1006"
        ),
        "{out}"
    );
    let marked: Vec<&str> = out.lines().filter(|l| l.starts_with(">>")).collect();
    assert_eq!(marked.len(), 1, "{out}");
    assert!(
        marked[0].contains("s->c") && marked[0].contains("RST"),
        "{out}"
    );
    assert!(out.contains("upgrade request GET /server_rst_no_close"));
}

#[test]
fn summary_counts_verdicts_and_codes() {
    let dir = samples().join("loadrun");
    let (code, out, err) = run(&["summary", "--format", "json", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let truth = truth("loadrun.truth.tsv");
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for t in &truth {
        *expected.entry(t.verdict.clone()).or_default() += 1;
    }
    let by_verdict = doc["summary"]["by_verdict"].as_array().unwrap();
    let got: std::collections::BTreeMap<String, u64> = by_verdict
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, expected);
    // Client-observed codes: as the recording client reported them.
    let mut codes: std::collections::BTreeMap<u64, u64> = Default::default();
    for t in &truth {
        *codes
            .entry(u64::from(
                t.observed.expect("loadrun truth has a code per session"),
            ))
            .or_default() += 1;
    }
    let got: std::collections::BTreeMap<u64, u64> = doc["summary"]["by_observed_code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, codes);
    // The first abnormal teardown is one the truth calls abnormal, with that verdict.
    let first = &doc["summary"]["first_abnormal"];
    let client: std::net::SocketAddr = first["client"].as_str().unwrap().parse().unwrap();
    let t = truth.iter().find(|t| t.client == client).unwrap();
    assert!(
        !matches!(
            t.verdict.as_str(),
            "clean_close_client" | "clean_close_server"
        ),
        "{t:?}"
    );
    assert_eq!(first["verdict"].as_str(), Some(t.verdict.as_str()));
}

#[test]
fn missing_file_is_exit_2_naming_it_and_others_still_analysed() {
    let good = samples().join("scenarios.pcap");
    let (code, out, err) = run(&[
        "sessions",
        "--format",
        "csv",
        "/nonexistent/run.pcap",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/run.pcap"), "{err}");
    assert_eq!(
        out,
        csv(&["sessions", "--format", "csv", good.to_str().unwrap()]),
        "the good file is still analysed, as if alone"
    );
}

#[test]
fn strict_stops_without_results_when_an_input_is_missing() {
    let good = samples().join("scenarios.pcap");
    let (code, out, err) = run(&[
        "sessions",
        "--format",
        "csv",
        "--strict",
        good.to_str().unwrap(),
        "/nonexistent/run.pcap",
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "no results with --strict: {out}");
    assert!(err.contains("/nonexistent/run.pcap"), "{err}");
    assert!(err.contains("--strict"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn not_a_capture_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.pcap");
    std::fs::write(&f, "this is not a capture\n").unwrap();
    let (code, out, err) = run(&["summary", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("notes.pcap") && err.contains("not a pcap or pcapng file"),
        "{err}"
    );
    assert!(out.is_empty(), "nothing but the error: {out}");
}

#[test]
fn a_capture_spanning_days_shows_dates_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut k = Craft::default();
    let (a, b) = (
        "10.4.0.1:5000".parse().unwrap(),
        "10.4.0.2:5000".parse().unwrap(),
    );
    k.udp(0, a, b, b"x");
    k.udp(2 * 86_400_000_000 + 3_600_000_000, a, b, b"y"); // two days and an hour later
    let p = k.write(dir.path(), "days.pcap");
    let (code, out, _) = run(&["summary", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("2025-12-03 12:00:00.000000 to 2025-12-05 13:00:00.000000 UTC (176400.000 s)"),
        "{out}"
    );
    // Within one day, the time of day is enough.
    let (_, out, _) = run(&[
        "summary",
        samples().join("scenarios.pcap").to_str().unwrap(),
    ]);
    let line = out.lines().next().unwrap();
    assert!(!line.contains("2026-"), "{line}");
}

#[test]
fn unknown_session_is_exit_1() {
    let good = samples().join("scenarios.pcap");
    let (code, _, err) = run(&["timeline", good.to_str().unwrap(), "--session", "100000"]);
    assert_eq!(code, 1);
    assert!(err.contains("no session 100000"), "{err}");
}

#[test]
fn truncated_file_warns_with_file_and_packet_and_keeps_results() {
    let pcap = samples().join("scenarios.pcap");
    let bytes = std::fs::read(&pcap).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3 + 7]).unwrap();
    let (code, out, err) = run(&["sessions", "--format", "csv", cut.to_str().unwrap()]);
    assert_eq!(code, 0, "a damaged file is not unusable: {err}");
    // The packets wholly before the cut are read: the warning names the next one, and
    // every session that began before the cut is listed.
    let records = Pcap::read(&pcap);
    let whole = (0..records.records.len())
        .take_while(|&i| records.offset_of(i + 1) <= bytes.len() * 2 / 3 + 7)
        .count();
    assert!(
        err.contains("warning[truncated_file]")
            && err.contains(&format!("cut.pcap, packet {}", whole + 1)),
        "{err}"
    );
    let last_read = records.ts(whole - 1);
    let full = csv(&["sessions", "--format", "csv", pcap.to_str().unwrap()]);
    let began_before = |text: &str| {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let start = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "start_ts")
            .unwrap();
        r.records()
            .map(Result::unwrap)
            .filter(|row| {
                let (secs, nanos) = row[start].split_once('.').unwrap();
                secs.parse::<i64>().unwrap() * 1_000_000_000 + nanos.parse::<i64>().unwrap()
                    <= last_read
            })
            .count()
    };
    assert_eq!(out.lines().count() - 1, began_before(&full), "{out}");
}

#[test]
fn json_sessions_carry_timelines() {
    let pcap = samples().join("scenarios.pcap");
    let (code, out, _) = run(&["sessions", "--format", "json", pcap.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sessions = v.as_array().unwrap();
    assert!(!sessions.is_empty());
    for s in sessions {
        assert!(s["timeline"].as_array().is_some_and(|t| !t.is_empty()));
        let marks = s["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["teardown_start"] == true)
            .count();
        let open = s["verdict"] == "open_at_capture_end" || s["verdict"] == "syn_unanswered";
        assert_eq!(marks, usize::from(!open), "{}", s["verdict"]);
    }
}

/// `teardown summary -` and a FIFO read the capture as a stream, as `tcpdump -w - |
/// teardown summary -` would give it: the same summary as the file.
#[test]
fn standard_input_and_fifos_are_read_as_streams() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let file = samples().join("scenarios.pcapng");
    let (code, want, _) = run(&["summary", "--ws-port", "9999", "-q", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let bytes = std::fs::read(&file).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(["summary", "--ws-port", "9999", "-q", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = bytes.clone();
    // Written in small pieces, as a pipe delivers them.
    let writer = std::thread::spawn(move || {
        for piece in feed.chunks(1000) {
            stdin.write_all(piece).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want.replace(file.to_str().unwrap(), "-")
    );

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("capture.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(path, bytes).unwrap());
    let (code, out, err) = run(&["summary", "--ws-port", "9999", "-q", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        want.replace(file.to_str().unwrap(), fifo.to_str().unwrap())
    );
}

/// `--threads` is bounded: a huge count is refused at once, naming the limit, instead of
/// starting threads for minutes.
#[test]
fn too_many_threads_is_a_clear_error() {
    let file = samples().join("scenarios.pcap");
    let start = std::time::Instant::now();
    let (code, out, err) = run(&["summary", "--threads", "100000", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("at most 256 worker threads"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let opts = teardown::Options {
        threads: Some(100_000),
        ..teardown::Options::default()
    };
    let e = teardown::analyze(&[file], &opts).unwrap_err();
    assert!(matches!(
        e,
        teardown::AnalysisError::TooManyThreads { requested: 100_000 }
    ));
}

/// `report -o /dev/stdout` writes to standard output (the descriptor, not a file renamed
/// over `/dev/stdout`), as `-o -` does.
#[test]
fn report_to_dev_stdout_is_a_stream() {
    let file = samples().join("scenarios.pcap");
    let f = file.to_str().unwrap();
    let (code, want, err) = run(&["report", "--markdown", "-q", "-o", "-", f]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["report", "--markdown", "-q", "-o", "/dev/stdout", f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, want);
}

/// Text a client put in its upgrade request (ESC sequences, BEL, a C1 CSI, an OSC 8
/// link, a right-to-left override) reaches no terminal raw: the timeline header and its
/// "upgrade request" line, the CSV on standard output and the Markdown report write it
/// escaped; `--csv-raw` alone keeps it.
#[test]
fn control_characters_from_the_capture_are_escaped_in_every_text_output() {
    let hostile = b"/x\x1b[2J\x07\xc2\x9b31m\xe2\x80\xaegpj.exe\x1b]8;;http://e\x1b\\";
    let mut bytes = raw_ip_pcap_header();
    bytes.extend(ws_session(
        40_000,
        0,
        &upgrade_head(hostile, b"User-Agent: \x1b[31mred\r\n"),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.pcap");
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();
    let raw_controls = |s: &str| {
        s.chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}')
    };
    for args in [
        vec!["timeline", "--session", "1", p],
        vec!["sessions", "--format", "csv", p],
        vec!["report", "--markdown", "-q", "-o", "-", p],
        vec!["report", "-q", "-o", "-", p],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!raw_controls(&out), "{args:?}: {out:?}");
        // The report shows no request text for a clean session; its escaping is
        // tested on its cells (report::markdown, report).
        if args[0] != "report" {
            assert!(
                out.contains("\\u{1b}") && out.contains("\\u{202e}"),
                "{args:?}: {out}"
            );
        }
    }
    let (_, out, _) = run(&["timeline", "--session", "1", p]);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("GET /x\\u{1b}[2J\\u{7}\\u{9b}31m"),
        "{out}"
    );
    let (_, out, _) = run(&["sessions", "--format", "csv", "--csv-raw", p]);
    assert!(
        out.contains("\u{1b}[2J") && out.contains("\u{1b}[31mred"),
        "{out}"
    );
}

/// One timeline event as derived from tshark: time (ns), direction (`c2s`/`s2c`), what
/// (a canonical description, the same for the JSON events), and the text the `timeline`
/// command prints for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ev {
    ts: i64,
    dir: &'static str,
    what: String,
    text: String,
}

/// Per TCP connection (client, server): the timeline events tshark's dissection implies,
/// by the README's rules (each event at the packet carrying its first byte; first and last
/// data frame per direction, the last only when there is more than one message or frame;
/// every FIN and RST, a FIN flagged as retransmitted by tshark marked so; a pong's round
/// trip from the ping it echoes), and the index of the teardown start (the first close
/// frame, FIN or RST, a close before a FIN before an RST and the client first at the same
/// instant; a rejected upgrade's response).
fn tshark_timelines(
    file: &std::path::Path,
) -> std::collections::BTreeMap<(std::net::SocketAddr, std::net::SocketAddr), (Vec<Ev>, Option<Ev>)>
{
    use std::collections::{BTreeMap, HashMap};
    use std::net::SocketAddr;
    let fields = [
        "frame.number",
        "frame.time_epoch",
        "tcp.stream",
        "ip.src",
        "tcp.srcport",
        "ip.dst",
        "tcp.dstport",
        "tcp.flags.syn",
        "tcp.flags.ack",
        "tcp.flags.fin",
        "tcp.flags.reset",
        "tcp.analysis.retransmission",
        "http.request.method",
        "http.request.uri",
        "http.response.code",
        "http.sec_websocket_accept",
        "websocket.opcode",
        "websocket.fin",
        "websocket.payload.close.status_code",
        "websocket.payload.close.reason",
        "websocket.payload_length",
        "websocket.payload.ping",
        "websocket.payload.pong",
        "tcp.segment",
        "ipv6.src",
        "ipv6.dst",
    ];
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r"])
        .arg(file)
        .args([
            "-Y",
            "tcp",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
        ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(out.status.success(), "tshark on {}", file.display());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let time: HashMap<&str, i64> = rows.iter().map(|r| (r[0], epoch_ns(r[1]))).collect();
    let list = |s: &str| -> Vec<String> {
        s.split('|')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };

    #[derive(Default)]
    struct Conn {
        client: Option<SocketAddr>,
        server: Option<SocketAddr>,
        syn: Option<i64>,
        attempts: u32,
        events: Vec<Ev>,
        /// (start, direction, kind 0 close / 1 FIN / 2 RST) candidates for the start.
        ends: Vec<(i64, usize, u8, usize)>,
        rejected: Option<usize>,
        /// Per direction: first and last data frame, messages.
        data: [(Option<i64>, Option<i64>, u64); 2],
        /// Pings waiting for their pong: (direction, payload, time).
        pings: Vec<(usize, String, i64)>,
    }
    let mut conns: BTreeMap<u64, Conn> = BTreeMap::new();
    let dirs = ["c2s", "s2c"];
    let tdir = ["c->s", "s->c"];
    for r in &rows {
        let t = epoch_ns(r[1]);
        let addr = |v4: &str, v6: &str, port: &str| {
            let ip = if v4.is_empty() { v6 } else { v4 };
            SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap())
        };
        let src = addr(r[3], r[24], r[4]);
        let dst = addr(r[5], r[25], r[6]);
        let c = conns.entry(r[2].parse().unwrap()).or_default();
        let (syn, ack, fin, rst) = (r[7] == "1", r[8] == "1", r[9] == "1", r[10] == "1");
        if syn && !ack {
            c.client.get_or_insert(src);
            c.server.get_or_insert(dst);
            c.syn.get_or_insert(t);
            c.attempts += 1;
            continue;
        }
        let Some(client) = c.client else { continue };
        let d = usize::from(src != client);
        let push = |c: &mut Conn, ts: i64, what: String, text: String| {
            c.events.push(Ev {
                ts,
                dir: dirs[d],
                what,
                text: format!("{}  {text}", tdir[d]),
            });
            c.events.len() - 1
        };
        // The first PDU of the frame began in the first segment tshark reassembled it
        // from; the others in this frame.
        let first_seg = r[23]
            .split('|')
            .next()
            .filter(|s| !s.is_empty())
            .map(|n| time[n]);
        let start = |k: usize| if k == 0 { first_seg.unwrap_or(t) } else { t };
        if syn && ack {
            if !c.events.iter().any(|e| e.what == "syn_ack") {
                push(c, t, "syn_ack".into(), "SYN-ACK".into());
            }
            continue;
        }
        if r[12] == "GET" && d == 0 {
            push(
                c,
                start(0),
                format!("handshake_request {}", r[13]),
                format!("upgrade request GET {}", r[13]),
            );
        }
        if !r[14].is_empty() && d == 1 {
            let status: u16 = r[14].parse().unwrap();
            // A Sec-WebSocket-Accept the real client library then accepted (it opened the
            // WebSocket: the truth has no handshake failure) was valid.
            let valid = if r[15].is_empty() {
                "None"
            } else {
                "Some(true)"
            };
            let i = push(
                c,
                start(0),
                format!("handshake_response {status} {valid}"),
                format!("HTTP {status}"),
            );
            if status != 101 {
                c.rejected = Some(i);
            }
        }
        let ops: Vec<u8> = list(r[16]).iter().map(|o| o.parse().unwrap()).collect();
        let fins = list(r[17]);
        let codes = list(r[18]);
        let reasons: Vec<String> = r[19].split('|').map(String::from).collect();
        let lens = list(r[20]);
        let pings = list(r[21]);
        let pongs = list(r[22]);
        let n_close = ops.iter().filter(|&&o| o == 8).count();
        let n_ping = ops.iter().filter(|&&o| o == 9).count();
        let n_pong = ops.iter().filter(|&&o| o == 10).count();
        assert!(
            n_close <= 1 || codes.len() == n_close,
            "frame {}: closes",
            r[0]
        );
        assert!(
            pings.is_empty() || pings.len() == n_ping,
            "frame {}: pings",
            r[0]
        );
        assert!(
            pongs.is_empty() || pongs.len() == n_pong,
            "frame {}: pongs",
            r[0]
        );
        let (mut ci, mut pi, mut qi) = (0, 0, 0);
        for (k, &op) in ops.iter().enumerate() {
            let ts = start(k);
            match op {
                0..=2 => {
                    let dd = &mut c.data[d];
                    dd.0.get_or_insert(ts);
                    dd.1 = Some(ts);
                    dd.2 += u64::from(fins[k] == "1");
                }
                8 => {
                    let code = codes.get(ci).cloned();
                    let reason = if code.is_some() {
                        reasons.get(ci).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    };
                    ci += 1;
                    let text = match (&code, reason.is_empty()) {
                        (Some(code), true) => format!("close frame {code}"),
                        (Some(code), false) => format!("close frame {code} {reason:?}"),
                        (None, _) => "close frame (no status code)".to_string(),
                    };
                    let what = format!("close {} {reason}", code.as_deref().unwrap_or("-"));
                    let i = push(c, ts, what, text);
                    c.ends.push((ts, d, 0, i));
                }
                9 => {
                    let payload = pings.get(pi).cloned().unwrap_or_default();
                    pi += 1;
                    c.pings.push((d, payload, ts));
                    let len = &lens[k];
                    push(c, ts, format!("ping {len}"), format!("ping ({len} bytes)"));
                }
                10 => {
                    let payload = pongs.get(qi).cloned().unwrap_or_default();
                    qi += 1;
                    let m = c
                        .pings
                        .iter()
                        .position(|(pd, p, _)| *pd != d && *p == payload);
                    let rtt = m.map(|i| (ts - c.pings.remove(i).2) as f64 / 1e6);
                    let (what, text) = match rtt {
                        Some(ms) => (format!("pong {ms:.6}"), format!("pong (rtt {ms:.3} ms)")),
                        None => ("pong -".to_string(), "pong (unsolicited)".to_string()),
                    };
                    push(c, ts, what, text);
                }
                _ => {}
            }
        }
        if fin {
            let re = !r[11].is_empty();
            let text = if re { "FIN (retransmitted)" } else { "FIN" };
            let i = push(c, t, format!("fin {re}"), text.into());
            c.ends.push((t, d, 1, i));
        }
        if rst {
            let i = push(c, t, "rst".into(), "RST".into());
            c.ends.push((t, d, 2, i));
        }
    }
    let mut out = BTreeMap::new();
    for (_, mut c) in conns {
        let (Some(client), Some(server), Some(syn)) = (c.client, c.server, c.syn) else {
            continue;
        };
        let attempts = c.attempts;
        let text = if attempts > 1 {
            format!("c->s  SYN ({attempts} attempts)")
        } else {
            "c->s  SYN".to_string()
        };
        c.events.push(Ev {
            ts: syn,
            dir: "c2s",
            what: format!("syn {attempts}"),
            text,
        });
        for d in 0..2 {
            let (first, last, messages) = c.data[d];
            let text = format!("{}  first data message", tdir[d]);
            if let Some(first) = first {
                c.events.push(Ev {
                    ts: first,
                    dir: dirs[d],
                    what: "first_message".into(),
                    text,
                });
                let last = last.unwrap();
                if last != first || messages > 1 {
                    c.events.push(Ev {
                        ts: last,
                        dir: dirs[d],
                        what: "last_message".into(),
                        text: format!("{}  last data message", tdir[d]),
                    });
                }
            }
        }
        let start = match c.rejected {
            Some(i) => Some(c.events[i].clone()),
            None => c
                .ends
                .iter()
                .min_by_key(|(ts, d, kind, _)| (*ts, *kind, *d))
                .map(|e| c.events[e.3].clone()),
        };
        c.events.sort();
        out.insert((client, server), (c.events, start));
    }
    out
}

/// The canonical description of a JSON timeline event (as [`Ev::what`]).
fn json_what(e: &serde_json::Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    match e["event"].as_str().unwrap() {
        "syn" => format!("syn {}", e["attempts"]),
        "handshake_request" => format!("handshake_request {}", s("path")),
        "handshake_response" => format!(
            "handshake_response {} {}",
            e["status"],
            match e["accept_valid"].as_bool() {
                Some(v) => format!("Some({v})"),
                None => "None".into(),
            }
        ),
        "close" => format!(
            "close {} {}",
            e["code"].as_u64().map_or("-".into(), |c| c.to_string()),
            s("reason")
        ),
        "ping" => format!("ping {}", e["payload_len"]),
        "pong" => match e["rtt_ms"].as_f64() {
            Some(ms) => format!("pong {ms:.6}"),
            None => "pong -".into(),
        },
        "fin" => format!("fin {}", e["retransmission"]),
        other => other.to_string(),
    }
}

/// `HH:MM:SS.ffffff` (UTC) of a time in ns.
fn time_of_day(ns: i64) -> String {
    let s = ns.div_euclid(1_000_000_000);
    let us = ns.rem_euclid(1_000_000_000) / 1000;
    let day = s.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{us:06}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

#[test]
fn timelines_equal_what_tshark_shows_event_by_event() {
    // Every session of the plain recorded captures: the JSON timeline (`sessions --format
    // json`) and the `timeline` command's lines equal, event by event, the events tshark's
    // dissection implies: times to the µs, directions, paths, statuses, close codes and
    // reasons, ping lengths and pong round trips, FINs and RSTs, and the marked start.
    if tshark_missing("timelines_equal_what_tshark_shows_event_by_event") {
        return;
    }
    let mut sessions = 0;
    let mut events = 0;
    for (file, truth_file) in [
        (samples().join("scenarios.pcap"), "scenarios.truth.tsv"),
        (samples().join("tls/ws.pcap"), "tls/ws.truth.tsv"),
        (samples().join("lossy.pcap"), "lossy.truth.tsv"),
    ] {
        let truth = truth(truth_file);
        let theirs = tshark_timelines(&file);
        let p = file.to_str().unwrap();
        let (code, out, err) = run(&["sessions", "--format", "json", p]);
        assert_eq!(code, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let list = doc.as_array().unwrap();
        // Without --ws-port, the sessions are the connections that sent an upgrade.
        let upgrades = truth
            .iter()
            .filter(|t| {
                !matches!(
                    t.verdict.as_str(),
                    "connect_refused" | "syn_unanswered" | "not_websocket"
                )
            })
            .count();
        assert_eq!(list.len(), upgrades, "{p}: one session per upgrade");
        for s in list {
            let addr = |ip: &str, port: &str| {
                std::net::SocketAddr::new(
                    s[ip].as_str().unwrap().parse().unwrap(),
                    s[port].as_u64().unwrap() as u16,
                )
            };
            let client = addr("client_ip", "client_port");
            let server = addr("server_ip", "server_port");
            let t = truth
                .iter()
                .find(|t| t.client == client)
                .expect("a truth row");
            assert!(!t.verdict.starts_with("handshake_failed"), "{t:?}");
            let (want, start) = theirs
                .get(&(client, server))
                .unwrap_or_else(|| panic!("{p} {client}: not in tshark"));
            let mut got: Vec<(i64, String, String)> = s["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        epoch_ns(e["ts"].as_str().unwrap()),
                        e["direction"].as_str().unwrap().to_string(),
                        json_what(e),
                    )
                })
                .collect();
            got.sort();
            let want_json: Vec<(i64, String, String)> = want
                .iter()
                .map(|e| (e.ts, e.dir.to_string(), e.what.clone()))
                .collect();
            assert_eq!(got, want_json, "{p} {client} ({}): timeline", t.scenario);
            let marked: Vec<(i64, String, String)> = s["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["teardown_start"] == true)
                .map(|e| {
                    (
                        epoch_ns(e["ts"].as_str().unwrap()),
                        e["direction"].as_str().unwrap().to_string(),
                        json_what(e),
                    )
                })
                .collect();
            let want_mark: Vec<(i64, String, String)> = start
                .iter()
                .map(|e| (e.ts, e.dir.to_string(), e.what.clone()))
                .collect();
            assert_eq!(marked, want_mark, "{p} {client} ({}): start", t.scenario);

            // The `timeline` command: the same events as lines, offsets from the first.
            let id = s["session_id"].to_string();
            let (code, text, err) = run(&["timeline", p, "--session", &id]);
            assert_eq!(code, 0, "{err}");
            let mut lines: Vec<(bool, String, f64)> = text
                .lines()
                .filter(|l| l.len() > 18 && l.as_bytes()[5] == b':' && l.as_bytes()[11] == b'.')
                .map(|l| {
                    let marked = l.starts_with(">>");
                    let body = l[3..].trim_end_matches("<- teardown starts").trim_end();
                    let time = body.split_whitespace().next().unwrap();
                    let rest = body[time.len()..].trim_start();
                    let offset = rest.split_whitespace().next().unwrap();
                    let secs: f64 = offset[1..offset.len() - 1].parse().unwrap();
                    let rest = rest[offset.len()..].trim_start();
                    (marked, format!("{time} {rest}"), secs)
                })
                .collect();
            let t0 = want.iter().map(|e| e.ts).min().unwrap();
            let mut want_lines: Vec<(bool, String, f64)> = want
                .iter()
                .map(|e| {
                    (
                        start.as_ref() == Some(e),
                        format!("{} {}", time_of_day(e.ts), e.text),
                        (e.ts - t0) as f64 / 1e9,
                    )
                })
                .collect();
            lines.sort_by(|a, b| a.1.cmp(&b.1));
            want_lines.sort_by(|a, b| a.1.cmp(&b.1));
            let strip = |v: &[(bool, String, f64)]| -> Vec<(bool, String)> {
                v.iter().map(|(m, l, _)| (*m, l.clone())).collect()
            };
            assert_eq!(
                strip(&lines),
                strip(&want_lines),
                "{p} {client} ({}): timeline lines\n{text}",
                t.scenario
            );
            // Offsets from the first event, printed to the µs (a half µs may round
            // either way).
            for (got, want) in lines.iter().zip(&want_lines) {
                assert!(
                    (got.2 - want.2).abs() <= 0.5e-6 + 1e-12,
                    "{p} {client}: {} at +{} s, tshark +{} s",
                    got.1,
                    got.2,
                    want.2
                );
            }
            sessions += 1;
            events += want.len();
        }
    }
    eprintln!("{sessions} timelines, {events} events equal tshark's");
    assert!(sessions >= 25, "{sessions} sessions compared");
}
