//! Record keys and record decryption: the protocol glue between the key log's secrets and
//! the RustCrypto primitives (`hmac`, `hkdf`, `sha2`, `aes-gcm`, `chacha20poly1305`).
//!
//! - TLS 1.2 (RFC 5246 §5, §6.3): `key_block = PRF(master_secret, "key expansion",
//!   server_random + client_random)`, with P_SHA256 or P_SHA384 as the suite says; AES-GCM
//!   records carry an 8-byte explicit nonce after a 4-byte implicit salt (RFC 5288 §3),
//!   ChaCha20-Poly1305 XORs the sequence number into a 12-byte IV (RFC 7905 §2).
//! - TLS 1.3 (RFC 8446 §7.1, §7.3, §5.2): `key = HKDF-Expand-Label(secret, "key", "", n)`,
//!   `iv = HKDF-Expand-Label(secret, "iv", "", 12)`, nonce = IV XOR sequence number, the
//!   additional data is the record header.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherSuite, TlsPRF};

/// AEAD tag length of every suite decrypted here.
pub const TAG_LEN: usize = 16;
/// TLS 1.2 AES-GCM explicit nonce length (RFC 5288 §3).
const EXPLICIT_NONCE_LEN: usize = 8;

/// The hash of a suite's PRF (TLS 1.2) or HKDF (TLS 1.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// An AEAD cipher suite this module can decrypt, from its IANA code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Suite {
    cipher: CipherKind,
    hash: Hash,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum CipherKind {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Suite {
    /// The suite with this IANA code, when it is AES-GCM or ChaCha20-Poly1305.
    pub fn from_id(id: u16) -> Option<Suite> {
        let s = TlsCipherSuite::from_id(id)?;
        let cipher = match (s.enc, s.enc_mode, s.enc_size) {
            (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 128) => CipherKind::Aes128Gcm,
            (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 256) => CipherKind::Aes256Gcm,
            (TlsCipherEnc::Chacha20_Poly1305, _, _) => CipherKind::ChaCha20Poly1305,
            _ => return None,
        };
        let hash = match s.prf {
            TlsPRF::Sha384 => Hash::Sha384,
            TlsPRF::Sha256 | TlsPRF::Default => Hash::Sha256,
            _ => return None,
        };
        Some(Suite { cipher, hash })
    }

    /// The bytes a record body adds to its plaintext under this suite: TLS 1.2 AES-GCM the
    /// explicit nonce and the tag (24), TLS 1.2 ChaCha20-Poly1305 the tag (16), TLS 1.3 the
    /// tag and the inner content type (17, without padding; RFC 8446 §5.2).
    pub fn record_overhead(self, tls13: bool) -> usize {
        self.framing(tls13).overhead()
    }

    /// The length of a Finished message's verify_data (TLS 1.3: the hash length, RFC 8446
    /// §4.4.4).
    pub fn hash_len(self) -> usize {
        match self.hash {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }

    fn framing(self, tls13: bool) -> Framing {
        match (tls13, self.cipher) {
            (true, _) => Framing::Tls13,
            (false, CipherKind::ChaCha20Poly1305) => Framing::Tls12XorNonce,
            (false, _) => Framing::Tls12ExplicitNonce,
        }
    }

    fn key_len(self) -> usize {
        match self.cipher {
            CipherKind::Aes128Gcm => 16,
            CipherKind::Aes256Gcm | CipherKind::ChaCha20Poly1305 => 32,
        }
    }

    /// TLS 1.2 fixed IV length: the GCM salt, or ChaCha20's whole IV.
    fn tls12_iv_len(self) -> usize {
        match self.cipher {
            CipherKind::ChaCha20Poly1305 => 12,
            _ => 4,
        }
    }
}

enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
}

/// How a record's nonce and additional data are built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Framing {
    /// TLS 1.2 AES-GCM: salt + explicit nonce from the record.
    Tls12ExplicitNonce,
    /// TLS 1.2 ChaCha20-Poly1305: IV XOR sequence number.
    Tls12XorNonce,
    /// TLS 1.3: IV XOR sequence number, header as additional data, inner content type.
    Tls13,
}

impl Framing {
    fn overhead(self) -> usize {
        match self {
            Framing::Tls12ExplicitNonce => EXPLICIT_NONCE_LEN + TAG_LEN,
            Framing::Tls12XorNonce => TAG_LEN,
            Framing::Tls13 => TAG_LEN + 1,
        }
    }
}

/// The keys of one direction of one TLS session.
pub struct RecordKeys {
    cipher: Cipher,
    iv: [u8; 12],
    framing: Framing,
}

/// A record opened with its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The real content type (TLS 1.3: from the inner plaintext).
    pub content_type: u8,
    /// The plaintext.
    pub data: Vec<u8>,
}

impl RecordKeys {
    fn new(suite: Suite, key: &[u8], iv: &[u8], framing: Framing) -> Option<RecordKeys> {
        let cipher = match suite.cipher {
            CipherKind::Aes128Gcm => {
                Cipher::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).ok()?))
            }
            CipherKind::Aes256Gcm => {
                Cipher::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).ok()?))
            }
            CipherKind::ChaCha20Poly1305 => {
                Cipher::ChaCha20Poly1305(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        };
        let mut full = [0u8; 12];
        full.get_mut(..iv.len())?.copy_from_slice(iv);
        Some(RecordKeys {
            cipher,
            iv: full,
            framing,
        })
    }

    /// TLS 1.3 keys from a traffic secret (RFC 8446 §7.3).
    pub fn tls13(suite: Suite, secret: &[u8]) -> Option<RecordKeys> {
        let key = expand_label(suite.hash, secret, "key", &[], suite.key_len())?;
        let iv = expand_label(suite.hash, secret, "iv", &[], 12)?;
        RecordKeys::new(suite, &key, &iv, Framing::Tls13)
    }

    /// TLS 1.2 keys of both directions (client, server) from the master secret
    /// (RFC 5246 §6.3; AEAD suites have no MAC keys).
    pub fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Option<(RecordKeys, RecordKeys)> {
        let (k, i) = (suite.key_len(), suite.tls12_iv_len());
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(server_random);
        seed[32..].copy_from_slice(client_random);
        let block = prf(suite.hash, master, "key expansion", &seed, 2 * (k + i))?;
        let framing = suite.framing(false);
        let client = RecordKeys::new(suite, &block[..k], &block[2 * k..2 * k + i], framing)?;
        let server = RecordKeys::new(suite, &block[k..2 * k], &block[2 * k + i..], framing)?;
        Some((client, server))
    }

    /// The plaintext length of a record whose body has `body_len` bytes (TLS 1.3: without
    /// the inner content type, assuming no padding, RFC 8446 §5.4).
    pub fn plaintext_len(&self, body_len: usize) -> usize {
        body_len.saturating_sub(self.framing.overhead())
    }

    /// Opens one record (`header` as on the wire) sent with sequence number `seq`; `None`
    /// when it does not authenticate under these keys.
    pub fn open(&self, seq: u64, header: &[u8; 5], body: &[u8]) -> Option<Opened> {
        let mut nonce = self.iv;
        let (aad, mut buf) = match self.framing {
            Framing::Tls12ExplicitNonce => {
                let explicit = body.get(..EXPLICIT_NONCE_LEN)?;
                nonce[4..].copy_from_slice(explicit);
                let ct = &body[EXPLICIT_NONCE_LEN..];
                (
                    tls12_aad(seq, header, ct.len().checked_sub(TAG_LEN)?),
                    ct.to_vec(),
                )
            }
            Framing::Tls12XorNonce => {
                xor_seq(&mut nonce, seq);
                (
                    tls12_aad(seq, header, body.len().checked_sub(TAG_LEN)?),
                    body.to_vec(),
                )
            }
            Framing::Tls13 => {
                xor_seq(&mut nonce, seq);
                let mut aad = [0u8; 13];
                aad[..5].copy_from_slice(header);
                (aad, body.to_vec())
            }
        };
        let aad = match self.framing {
            Framing::Tls13 => &aad[..5],
            _ => &aad[..],
        };
        let ok = match &self.cipher {
            Cipher::Aes128Gcm(c) => c.decrypt_in_place(&nonce.into(), aad, &mut buf),
            Cipher::Aes256Gcm(c) => c.decrypt_in_place(&nonce.into(), aad, &mut buf),
            Cipher::ChaCha20Poly1305(c) => c.decrypt_in_place(&nonce.into(), aad, &mut buf),
        };
        ok.ok()?;
        let content_type = match self.framing {
            Framing::Tls13 => {
                // RFC 8446 §5.4: the content type is the last non-zero byte; zeros pad.
                let end = buf.iter().rposition(|&b| b != 0)?;
                let t = buf[end];
                buf.truncate(end);
                t
            }
            _ => header[0],
        };
        Some(Opened {
            content_type,
            data: buf,
        })
    }
}

fn xor_seq(nonce: &mut [u8; 12], seq: u64) {
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
}

/// RFC 5246 §6.2.3.3: seq_num + type + version + length.
fn tls12_aad(seq: u64, header: &[u8; 5], plain_len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8..11].copy_from_slice(&header[..3]);
    aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
    aad
}

/// RFC 5246 §5: PRF(secret, label, seed) = P_hash(secret, label + seed).
pub fn prf(hash: Hash, secret: &[u8], label: &str, seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut label_seed = label.as_bytes().to_vec();
    label_seed.extend_from_slice(seed);
    match hash {
        Hash::Sha256 => p_hash::<Hmac<Sha256>>(secret, &label_seed, len),
        Hash::Sha384 => p_hash::<Hmac<Sha384>>(secret, &label_seed, len),
    }
}

/// P_hash: A(0) = seed, A(i) = HMAC(secret, A(i-1)); output HMAC(secret, A(i) + seed)...
fn p_hash<M: Mac + KeyInit + Clone>(secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let base = <M as KeyInit>::new_from_slice(secret).ok()?;
    let mut out = Vec::with_capacity(len + 64);
    let mut a = {
        let mut m = base.clone();
        m.update(seed);
        m.finalize().into_bytes().to_vec()
    };
    while out.len() < len {
        let mut m = base.clone();
        m.update(&a);
        m.update(seed);
        out.extend_from_slice(&m.finalize().into_bytes());
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes().to_vec();
    }
    out.truncate(len);
    Some(out)
}

/// RFC 8446 §7.1: HKDF-Expand-Label(secret, label, context, length).
pub fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len() + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(full.as_bytes());
    info.push(u8::try_from(context.len()).ok()?);
    info.extend_from_slice(context);
    let mut out = vec![0u8; len];
    match hash {
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // RFC 8448 §3 (Simple 1-RTT Handshake).
    const HANDSHAKE_SECRET: &str = "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9
        9f 69 1e d2 21 a9 f0 ca 04 3f be ac";
    const HELLO_HASH: &str = "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3
        e6 e9 5f 02 ed 06 3c f0 e1 ca d8";
    const SERVER_HS_TRAFFIC: &str = "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12
        bc de d9 10 5d 42 be fd 59 d3 91 ad 38";

    #[test]
    fn rfc8448_traffic_secret_from_handshake_secret() {
        let got = expand_label(
            Hash::Sha256,
            &unhex(HANDSHAKE_SECRET),
            "s hs traffic",
            &unhex(HELLO_HASH),
            32,
        );
        assert_eq!(got, Some(unhex(SERVER_HS_TRAFFIC)));
    }

    #[test]
    fn rfc8448_server_handshake_key_and_iv() {
        let s = unhex(SERVER_HS_TRAFFIC);
        assert_eq!(
            expand_label(Hash::Sha256, &s, "key", &[], 16),
            Some(unhex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"))
        );
        assert_eq!(
            expand_label(Hash::Sha256, &s, "iv", &[], 12),
            Some(unhex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"))
        );
    }

    #[test]
    fn tls12_prf_sha256_test_vector() {
        // The P_SHA256 vector published for TLS 1.2 implementers (IETF TLS list, 2009).
        let out = prf(
            Hash::Sha256,
            &unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"),
            "test label",
            &unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"),
            100,
        )
        .unwrap();
        assert_eq!(
            out[..16],
            unhex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53")
        );
        assert_eq!(out[96..], unhex("87 34 7b 66"));
    }

    #[test]
    fn suites_by_iana_code() {
        assert!(Suite::from_id(0x1301).is_some());
        assert_eq!(Suite::from_id(0x1302).map(|s| s.hash), Some(Hash::Sha384));
        assert_eq!(
            Suite::from_id(0xcca8).map(|s| s.cipher),
            Some(CipherKind::ChaCha20Poly1305)
        );
        assert_eq!(Suite::from_id(0xc02f).map(|s| s.key_len()), Some(16));
        // CBC suites are not decrypted.
        assert_eq!(Suite::from_id(0xc013), None);
    }

    #[test]
    fn a_wrong_sequence_number_does_not_open() {
        let suite = Suite::from_id(0x1303).unwrap();
        let keys = RecordKeys::tls13(suite, &unhex(SERVER_HS_TRAFFIC)).unwrap();
        let header = [23, 3, 3, 0, 17];
        assert_eq!(keys.open(0, &header, &[0u8; 17]), None);
        assert_eq!(keys.open(0, &header, &[0u8; 3]), None);
    }
}
