//! The hello messages in clear, read with `tls-parser`: what the client offered (random,
//! SNI, ALPN) and what the server chose (random, version, cipher suite, ALPN). TLS 1.3
//! negotiates with `supported_versions` (RFC 8446 §4.2.1) under a legacy 1.2 version,
//! and puts the chosen ALPN in the (encrypted) EncryptedExtensions.

use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_extensions, parse_tls_message_handshake,
    parse_tls_server_hello_extensions, SNIType, TlsExtension, TlsMessage, TlsMessageHandshake,
};

/// RFC 8446 §4.1.3: the random of a HelloRetryRequest, SHA-256("HelloRetryRequest").
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ClientHello says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The client random (the key log's index).
    pub random: [u8; 32],
    /// The host name of the server_name extension.
    pub sni: Option<String>,
    /// The first protocol its ALPN extension offers (`h2`, `http/1.1`).
    pub alpn: Option<String>,
}

/// What a ServerHello says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The negotiated version (from `supported_versions` when present).
    pub version: u16,
    /// The chosen cipher suite's IANA code.
    pub cipher: u16,
    /// The chosen application protocol (TLS 1.2).
    pub alpn: Option<String>,
    /// True for a HelloRetryRequest.
    pub retry: bool,
}

fn random(r: &[u8]) -> Option<[u8; 32]> {
    r.try_into().ok()
}

fn first_alpn(exts: &[TlsExtension<'_>]) -> Option<String> {
    exts.iter().find_map(|e| match e {
        TlsExtension::ALPN(names) => names
            .first()
            .map(|n| String::from_utf8_lossy(n).into_owned()),
        _ => None,
    })
}

/// Reads a whole ClientHello message (with its 4-byte handshake header).
pub fn parse_client_hello(msg: &[u8]) -> Option<ClientHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) =
        parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let exts = ch
        .ext
        .and_then(|e| parse_tls_client_hello_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    let sni = exts.iter().find_map(|e| match e {
        TlsExtension::SNI(names) => names
            .iter()
            .find(|(t, _)| *t == SNIType::HostName)
            .map(|(_, n)| String::from_utf8_lossy(n).into_owned()),
        _ => None,
    });
    Some(ClientHello {
        random: random(ch.random)?,
        sni,
        alpn: first_alpn(&exts),
    })
}

/// Reads a whole ServerHello message (with its 4-byte handshake header).
pub fn parse_server_hello(msg: &[u8]) -> Option<ServerHello> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) =
        parse_tls_message_handshake(msg)
    else {
        return None;
    };
    let exts = sh
        .ext
        .and_then(|e| parse_tls_server_hello_extensions(e).ok())
        .map(|(_, v)| v)
        .unwrap_or_default();
    let version = exts
        .iter()
        .find_map(|e| match e {
            TlsExtension::SupportedVersions(v) => v.first().map(|v| v.0),
            _ => None,
        })
        .unwrap_or(sh.version.0);
    let random = random(sh.random)?;
    Some(ServerHello {
        random,
        version,
        cipher: sh.cipher.0,
        alpn: first_alpn(&exts),
        retry: random == HELLO_RETRY_RANDOM,
    })
}

/// The ALPN of a TLS 1.3 EncryptedExtensions message (with its handshake header).
pub fn alpn_of_encrypted_extensions(msg: &[u8]) -> Option<String> {
    let exts = msg.get(6..)?;
    let (_, list) = parse_tls_extensions(exts).ok()?;
    first_alpn(&list)
}

/// A ClientHello message offering TLS_AES_128_GCM_SHA256 with this SNI and a client
/// random of sevens, built by hand (for tests).
#[cfg(test)]
pub(crate) fn client_hello(sni: &str) -> Vec<u8> {
    {
        let mut ext = Vec::new();
        let name = sni.as_bytes();
        ext.extend_from_slice(&[0, 0]); // server_name
        ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
        ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut msg = vec![1, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_random_and_sni() {
        let ch = parse_client_hello(&client_hello("wss.example")).unwrap();
        assert_eq!(ch.random, [7u8; 32]);
        assert_eq!(ch.sni.as_deref(), Some("wss.example"));
        assert_eq!(parse_server_hello(&client_hello("x")), None);
    }

    #[test]
    fn tls13_server_hello_takes_the_version_from_supported_versions() {
        let mut body = vec![3, 3];
        body.extend_from_slice(&HELLO_RETRY_RANDOM);
        body.push(0);
        body.extend_from_slice(&[0x13, 0x02, 0]);
        let ext = [0x00, 0x2b, 0, 2, 3, 4];
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut msg = vec![2, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        let sh = parse_server_hello(&msg).unwrap();
        assert_eq!((sh.version, sh.cipher, sh.retry), (0x0304, 0x1302, true));
    }
}
