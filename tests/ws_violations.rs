//! RFC 6455 violations on a crafted connection: each is a warning of its own kind, a
//! timeline event on the session and a count in the summary, and the framing survives them.

mod common;

use common::*;
use std::net::SocketAddr;
use teardown::diag::WarningKind;
use teardown::session::EventKind;

/// One TCP connection written segment by segment, sequence numbers kept.
struct Conn {
    craft: Craft,
    client: SocketAddr,
    server: SocketAddr,
    seq: [u32; 2],
    t: u64,
}

impl Conn {
    fn open() -> Conn {
        let mut c = Conn {
            craft: Craft::default(),
            client: "10.1.0.1:40000".parse().unwrap(),
            server: "10.1.0.2:8080".parse().unwrap(),
            seq: [1000, 5000],
            t: 0,
        };
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        c.segment(true, syn, &[]);
        c.segment(false, Flags { ack: true, ..syn }, &[]);
        c
    }

    fn segment(&mut self, from_client: bool, flags: Flags, payload: &[u8]) {
        let (d, src, dst) = if from_client {
            (0, self.client, self.server)
        } else {
            (1, self.server, self.client)
        };
        self.t += 1000;
        let (seq, ack) = (self.seq[d], self.seq[1 - d]);
        self.craft.tcp(self.t, src, dst, seq, ack, flags, payload);
        self.seq[d] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags.syn || flags.fin));
    }

    fn send(&mut self, from_client: bool, payload: &[u8]) {
        let flags = Flags {
            ack: true,
            psh: true,
            ..Flags::default()
        };
        self.segment(from_client, flags, payload);
    }
}

/// A frame: first byte, optional mask, payload (masked here when a mask is given).
fn frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut b = vec![first];
    match payload.len() {
        n @ 0..=125 => b.push(m | n as u8),
        n => {
            b.push(m | 126);
            b.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            b.extend_from_slice(&k);
            b.extend(payload.iter().enumerate().map(|(i, x)| x ^ k[i % 4]));
        }
        None => b.extend_from_slice(payload),
    }
    b
}

const MASK: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

#[test]
fn every_violation_is_a_warning_an_event_and_a_count() {
    let mut c = Conn::open();
    c.send(
        true,
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    c.send(
        false,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let client_frames = [
        frame(0x81, None, b"unmasked"),         // unmasked client frame
        frame(0x80, MASK, b"orphan"),           // continuation without start
        frame(0x89, MASK, &[b'p'; 126]),        // control frame too long
        frame(0x83, MASK, b"op3"),              // reserved opcode
        frame(0xc1, MASK, b"rsv1"),             // RSV1 without permessage-deflate
        frame(0x09, MASK, b"ping"),             // fragmented control frame
        frame(0x88, MASK, &[0x03, 0xed, 0xff]), // close 1005, reason not UTF-8
        frame(0x82, MASK, b"late"),             // data after close
    ];
    let mut close_1000 = vec![0x03, 0xe8];
    close_1000.extend_from_slice(&[b'r'; 256]);
    let server_frames = [
        frame(0x81, MASK, b"masked"),   // masked server frame
        frame(0x88, None, &close_1000), // a 258-byte close frame
    ];
    c.send(false, &server_frames[0]);
    for f in &client_frames {
        c.send(true, f);
    }
    c.send(false, &server_frames[1]);
    let fin = Flags {
        ack: true,
        fin: true,
        ..Flags::default()
    };
    c.segment(true, fin, &[]);
    c.segment(false, fin, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = c.craft.write(dir.path(), "violations.pcap");

    let a = analyze(std::slice::from_ref(&path), &[]);
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    // The framing survived every violation: each frame was counted.
    assert_eq!(
        (s.c2s.frames, s.s2c.frames),
        (client_frames.len() as u64, server_frames.len() as u64)
    );
    // Two control frames are over 125 bytes: the client's ping and the server's close.
    let expected = [
        (WarningKind::WebsocketUnmaskedClientFrame, 1),
        (WarningKind::WebsocketContinuationWithoutStart, 1),
        (WarningKind::WebsocketControlFrameTooLong, 2),
        (WarningKind::WebsocketReservedOpcode, 1),
        (WarningKind::WebsocketRsvWithoutExtension, 1),
        (WarningKind::WebsocketFragmentedControlFrame, 1),
        (WarningKind::WebsocketInvalidCloseCode, 1),
        (WarningKind::WebsocketCloseReasonNotUtf8, 1),
        (WarningKind::WebsocketDataAfterClose, 1),
        (WarningKind::WebsocketMaskedServerFrame, 1),
    ];
    for (kind, n) in expected {
        assert!(kind.is_protocol_violation());
        let events = s
            .timeline
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Violation { kind: k, .. } if *k == kind))
            .count();
        assert_eq!((events as u64, a.diagnostics.count(kind)), (n, n), "{kind}");
    }
    let violations: u64 = a
        .diagnostics
        .counts()
        .iter()
        .filter(|(k, _)| k.is_protocol_violation())
        .map(|(_, n)| n)
        .sum();
    assert_eq!(violations, 11);
    let (_, out, _) = run(&["summary", path.to_str().unwrap(), "--quiet"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("protocol violations"))
        .unwrap_or_else(|| panic!("no violations line in:\n{out}"));
    assert!(line.contains("in 1 sessions"), "{line}");
    assert!(
        line.contains("2 websocket_control_frame_too_long"),
        "{line}"
    );
    let (_, timeline, _) = run(&[
        "timeline",
        path.to_str().unwrap(),
        "--session",
        "1",
        "--quiet",
    ]);
    assert!(
        timeline.contains("its reason is cut to 123 of 256 bytes here"),
        "{timeline}"
    );
}

#[test]
fn public_captures_with_unmasked_clients() {
    let Some(dir) = shared_captures_for("public_captures_with_unmasked_clients") else {
        return;
    };
    // wstunnel does not mask its client frames; Suricata's test sends an unmasked ping.
    for (name, unmasked) in [
        ("zeek__wstunnel-http.pcap", 2),
        ("suricata-verify__websocket-ping__input.pcap", 1),
    ] {
        let a = analyze(&[dir.join(name)], &[]);
        assert_eq!(
            a.diagnostics
                .count(WarningKind::WebsocketUnmaskedClientFrame),
            unmasked,
            "{name}"
        );
    }
}
