//! `--filter`: BPF expressions compiled by libpcap (feature `libpcap`) and applied to each
//! packet offline, exactly as `tcpdump -r FILE 'expr'` would select them.

use super::reader::{LinkType, RawPacket};
use std::collections::HashMap;

/// A filter expression, compiled once per link type met in the capture.
pub struct Filter {
    expr: String,
    programs: HashMap<LinkType, Option<pcap::BpfProgram>>,
    /// Link types for which the expression did not compile (their packets are dropped).
    pub failures: Vec<(LinkType, String)>,
}

/// libpcap compiles for DLT_* values; the file formats store LINKTYPE_* values, which
/// differ for raw IP (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux).
fn dlt_of(link: LinkType) -> i32 {
    match link.0 {
        101 => 12,
        n => n as i32,
    }
}

/// A BPF expression libpcap could not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid --filter {expr:?}: {reason}")]
pub struct FilterError {
    /// The expression.
    pub expr: String,
    /// libpcap's message.
    pub reason: String,
}

fn compile(expr: &str, link: LinkType) -> Result<pcap::BpfProgram, String> {
    let dead = pcap::Capture::dead(pcap::Linktype(dlt_of(link))).map_err(|e| e.to_string())?;
    dead.compile(expr, true).map_err(|e| e.to_string())
}

impl Filter {
    /// Checks the expression by compiling it for Ethernet; the error says why it is invalid.
    pub fn new(expr: &str) -> Result<Filter, FilterError> {
        let ethernet = compile(expr, LinkType(1)).map_err(|reason| FilterError {
            expr: expr.to_string(),
            reason,
        })?;
        let mut programs = HashMap::new();
        programs.insert(LinkType(1), Some(ethernet));
        Ok(Filter {
            expr: expr.to_string(),
            programs,
            failures: Vec::new(),
        })
    }

    /// True when the packet passes the filter.
    pub fn matches(&mut self, p: &RawPacket<'_>) -> bool {
        let program =
            self.programs
                .entry(p.link)
                .or_insert_with(|| match compile(&self.expr, p.link) {
                    Ok(prog) => Some(prog),
                    Err(e) => {
                        self.failures.push((p.link, e));
                        None
                    }
                });
        program.as_ref().is_some_and(|prog| prog.filter(p.data))
    }
}
