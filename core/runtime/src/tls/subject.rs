//! A certificate's subject as text (RFC 4514: the last RDN first, `CN=client,O=Acme`), read
//! from its DER form: the name `tls.client.subject` gives a route for a verified client.

use std::fmt::Write;

/// One DER element: its tag, its content and what follows it. `None`: malformed.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81 => {
            let (&n, rest) = rest.split_first()?;
            (usize::from(n), rest)
        }
        0x82 => {
            let b = rest.get(..2)?;
            let n = usize::from(*b.first()?) << 8 | usize::from(*b.get(1)?);
            (n, rest.get(2..)?)
        }
        _ => return None,
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The short names of RFC 4514 (and `emailAddress`, which OpenSSL prints).
fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

/// An OID in dotted form.
fn dotted(oid: &[u8], out: &mut String) {
    let mut value: u64 = 0;
    let mut first = true;
    for &b in oid {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if first {
                let (a, b) = if value < 80 {
                    (value / 40, value % 40)
                } else {
                    (2, value - 80)
                };
                let _ = write!(out, "{a}.{b}");
                first = false;
            } else {
                let _ = write!(out, ".{value}");
            }
            value = 0;
        }
    }
}

/// Append `value` escaped as RFC 4514 says.
fn escaped(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, ch) in value.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(ch, '#' | ' '))
            || (i == last && ch == ' ');
        if special {
            out.push('\\');
        }
        if ch == '\0' {
            out.push_str("\\00");
        } else {
            out.push(ch);
        }
    }
}

/// The subject of a DER certificate. `None`: it does not parse.
pub fn of_cert(der: &[u8]) -> Option<String> {
    let der = rustls::pki_types::CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    rdn_sequence(cert.subject())
}

/// The text of a Name's RDN sequence (its content, without the outer SEQUENCE).
fn rdn_sequence(mut der: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    while !der.is_empty() {
        let (tag, set, rest) = tlv(der)?;
        if tag != 0x31 {
            return None;
        }
        der = rest;
        let mut rdn = String::new();
        let mut set = set;
        while !set.is_empty() {
            let (tag, atv, rest) = tlv(set)?;
            set = rest;
            if tag != 0x30 {
                return None;
            }
            let (oid_tag, oid, atv) = tlv(atv)?;
            let (vtag, value, _) = tlv(atv)?;
            if oid_tag != 0x06 {
                return None;
            }
            if !rdn.is_empty() {
                rdn.push('+');
            }
            let text = match vtag {
                // UTF8String, PrintableString, T61String, IA5String
                0x0c | 0x13 | 0x14 | 0x16 => std::str::from_utf8(value).ok(),
                _ => None,
            };
            match (short_name(oid), text) {
                (Some(name), Some(text)) => {
                    rdn.push_str(name);
                    rdn.push('=');
                    escaped(text, &mut rdn);
                }
                // other types: the dotted OID and the value's DER in hex
                (_, _) => {
                    dotted(oid, &mut rdn);
                    rdn.push_str("=#");
                    let _ = write!(rdn, "{vtag:02x}{:02x}", value.len());
                    for b in value {
                        let _ = write!(rdn, "{b:02x}");
                    }
                }
            }
        }
        rdns.push(rdn);
    }
    rdns.reverse();
    Some(rdns.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x06, oid.len() as u8];
        inner.extend_from_slice(oid);
        inner.extend_from_slice(&[tag, value.len() as u8]);
        inner.extend_from_slice(value);
        let mut seq = vec![0x30, inner.len() as u8];
        seq.extend(inner);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn names_print_last_rdn_first_with_escapes() {
        let mut der = atv(&[0x55, 0x04, 0x06], 0x13, b"DE");
        der.extend(atv(&[0x55, 0x04, 0x0a], 0x0c, b"Acme, Inc"));
        der.extend(atv(&[0x55, 0x04, 0x03], 0x0c, b"client one"));
        assert_eq!(
            rdn_sequence(&der).as_deref(),
            Some("CN=client one,O=Acme\\, Inc,C=DE")
        );
        // an attribute without a short name: dotted OID and hex
        let der = atv(&[0x2b, 0x06, 0x01], 0x04, &[0xab]);
        assert_eq!(rdn_sequence(&der).as_deref(), Some("1.3.6.1=#0401ab"));
        // truncated input
        assert_eq!(rdn_sequence(&[0x31, 0x05, 0x30]), None);
    }
}
