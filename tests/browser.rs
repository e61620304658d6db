//! Real browser and JVM clients (samples/browser): every WebSocket's verdict and
//! client-observed code against what the client itself reported (Chromium's `CloseEvent`,
//! the JDK's `onClose`/`onError`), decrypted with the recorded key logs. The close-timeout
//! capture is Chromium giving up 60 s after its own close frame: it sends FIN and reports
//! 1006, although the server's close frame reaches its kernel later.

mod common;

use common::*;
use teardown::{analyze as analyze_with, Options};

fn check(name: &str) -> usize {
    let dir = samples().join("browser");
    let opts = Options {
        keylog: Some(dir.join(format!("{name}.keylog"))),
        ..Options::default()
    };
    let a = analyze_with(&[dir.join(format!("{name}.pcap"))], &opts).expect("analysis");
    let mut checked = 0;
    let mut errors = Vec::new();
    for t in truth(&format!("browser/{name}.truth.tsv")) {
        if t.verdict == "not_websocket" || t.verdict == "tls_handshake_failed" {
            continue;
        }
        let Some(s) = a
            .sessions
            .iter()
            .find(|s| s.client == t.client && s.server == t.server)
        else {
            errors.push(format!("{}: no session for {}", t.scenario, t.client));
            continue;
        };
        checked += 1;
        if s.verdict.to_string() != t.verdict || s.client_observed_code != t.observed {
            errors.push(format!(
                "{} {}: ours {} {:?}, the client's {} {:?}",
                t.scenario, t.client, s.verdict, s.client_observed_code, t.verdict, t.observed
            ));
        }
    }
    assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    checked
}

#[test]
fn chromium_close_timeout_is_1006() {
    assert_eq!(check("chromium_close_timeout"), 1);
}

#[test]
fn chromium_sessions_match_their_close_events() {
    assert!(check("chromium12") >= 10);
    assert!(check("chromium13") >= 10);
}

#[test]
fn jvm_sessions_match_on_close() {
    assert!(check("jvm12") >= 12);
    assert!(check("jvm13") >= 12);
}
