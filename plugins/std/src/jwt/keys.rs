//! Verification keys (JWKS documents, PEM public keys, HMAC secrets) and the algorithms each
//! may verify. A key verifies only its own family: an RSA key never serves as an HMAC secret,
//! whatever a token's header says, so RS256 to HS256 confusion has nothing to work with.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{hmac, signature};

/// Keys a key set may hold: bounds the work a token without `kid` can cause.
pub(crate) const MAX_KEYS: usize = 64;

/// A JWS algorithm gw verifies (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    pub(crate) const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    pub(crate) fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == s)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => Family::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Family::Rsa
            }
            Alg::ES256 => Family::P256,
            Alg::ES384 => Family::P384,
            Alg::EdDSA => Family::Ed25519,
        }
    }
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Hmac => "an HMAC secret",
            Family::Rsa => "an RSA key",
            Family::P256 => "a P-256 key",
            Family::P384 => "a P-384 key",
            Family::Ed25519 => "an Ed25519 key",
        }
    }
}

/// HMAC keys for each hash, prepared once.
pub(crate) struct HmacKeys {
    len: usize,
    s256: hmac::Key,
    s384: hmac::Key,
    s512: hmac::Key,
}

/// What a key verifies with.
pub(crate) enum Material {
    Hmac(Box<HmacKeys>),
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (`04 || x || y`) on P-256 or P-384.
    Ec {
        family: Family,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

/// One verification key.
pub(crate) struct Key {
    pub kid: Option<String>,
    /// The JWK's `alg`: the only algorithm it may verify, when given.
    pub alg: Option<Alg>,
    pub material: Material,
}

impl Key {
    pub(crate) fn family(&self) -> Family {
        match &self.material {
            Material::Hmac(_) => Family::Hmac,
            Material::Rsa { .. } => Family::Rsa,
            Material::Ec { family, .. } => *family,
            Material::Ed25519(_) => Family::Ed25519,
        }
    }

    /// Whether this key may verify `alg` at all (its family, and its JWK `alg` if any).
    pub(crate) fn admits(&self, alg: Alg) -> Result<(), String> {
        if self.family() != alg.family() {
            return Err(format!(
                "alg {} needs {}, and the key{} is {}",
                alg.name(),
                alg.family().name(),
                self.kid
                    .as_deref()
                    .map(|k| format!(" {k:?}"))
                    .unwrap_or_default(),
                self.family().name()
            ));
        }
        match self.alg {
            Some(only) if only != alg => Err(format!(
                "the key is for {} only, the token says {}",
                only.name(),
                alg.name()
            )),
            _ => Ok(()),
        }
    }

    /// Verifies `sig` over `msg` with `alg`, which [`Key::admits`] has accepted.
    pub(crate) fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        let ok = match (&self.material, alg) {
            (Material::Hmac(k), Alg::HS256) => hmac::verify(&k.s256, msg, sig),
            (Material::Hmac(k), Alg::HS384) => hmac::verify(&k.s384, msg, sig),
            (Material::Hmac(k), Alg::HS512) => hmac::verify(&k.s512, msg, sig),
            (Material::Rsa { n, e }, _) => {
                let params: &signature::RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                signature::RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
            (Material::Ec { point, .. }, Alg::ES256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
            }
            (Material::Ec { point, .. }, Alg::ES384) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(msg, sig)
            }
            (Material::Ed25519(k), Alg::EdDSA) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, k).verify(msg, sig)
            }
            _ => return false,
        };
        ok.is_ok()
    }
}

/// The keys of one `jwt` declaration at one time.
#[derive(Default)]
pub(crate) struct KeySet {
    pub keys: Vec<Key>,
}

impl KeySet {
    /// The key named `kid`.
    pub(crate) fn find(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Refuses HMAC keys shorter than the hash of an allowed HS algorithm (RFC 7518 §3.2).
    pub(crate) fn check_hmac_lengths(&self, algorithms: &[Alg]) -> Result<(), String> {
        for k in &self.keys {
            if let Material::Hmac(h) = &k.material {
                for a in algorithms {
                    let need = match a {
                        Alg::HS256 => 32,
                        Alg::HS384 => 48,
                        Alg::HS512 => 64,
                        _ => continue,
                    };
                    if h.len < need {
                        return Err(format!(
                            "an HMAC secret for {} needs at least {need} bytes, this one has {}",
                            a.name(),
                            h.len
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn hmac_key(secret: &[u8]) -> Key {
    Key {
        kid: None,
        alg: None,
        material: Material::Hmac(Box::new(HmacKeys {
            len: secret.len(),
            s256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            s384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            s512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        })),
    }
}

fn b64(v: Option<&serde_json::Value>, what: &str) -> Result<Vec<u8>, String> {
    let s = v
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("has no string `{what}`"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("`{what}` is not base64url without padding"))
}

/// A big-endian unsigned integer without its leading zeros.
fn unsigned(mut b: &[u8]) -> Vec<u8> {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b.to_vec()
}

fn rsa(n: &[u8], e: &[u8]) -> Result<Material, String> {
    let (n, e) = (unsigned(n), unsigned(e));
    if !(256..=1024).contains(&n.len()) {
        return Err(format!(
            "an RSA modulus of {} bits (2048 to 8192 are accepted)",
            n.len() * 8
        ));
    }
    if e.is_empty() || e.len() > 4 {
        return Err("an RSA exponent out of range".into());
    }
    Ok(Material::Rsa { n, e })
}

fn ec(family: Family, x: &[u8], y: &[u8]) -> Result<Material, String> {
    let size = if family == Family::P256 { 32 } else { 48 };
    if x.len() != size || y.len() != size {
        return Err(format!("EC coordinates of {size} bytes expected"));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(Material::Ec { family, point })
}

/// One JWK: `Ok(None)` for a key gw does not use (an encryption key, another curve).
fn jwk(v: &serde_json::Value, allow_secret: bool) -> Result<Option<Key>, String> {
    let field = |n: &str| v.get(n).and_then(serde_json::Value::as_str);
    if field("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let alg = match field("alg") {
        Some(a) => match Alg::parse(a) {
            Some(a) => Some(a),
            // an algorithm gw does not verify (RSA-OAEP, ES512): not a key for us
            None => return Ok(None),
        },
        None => None,
    };
    let kid = match v.get("kid") {
        None => None,
        Some(serde_json::Value::String(k)) => Some(k.clone()),
        Some(_) => return Err("has a `kid` that is not a string".into()),
    };
    let material = match field("kty") {
        Some("RSA") => rsa(&b64(v.get("n"), "n")?, &b64(v.get("e"), "e")?)?,
        Some("EC") => {
            let family = match field("crv") {
                Some("P-256") => Family::P256,
                Some("P-384") => Family::P384,
                _ => return Ok(None),
            };
            ec(family, &b64(v.get("x"), "x")?, &b64(v.get("y"), "y")?)?
        }
        Some("OKP") => match field("crv") {
            Some("Ed25519") => {
                let x = b64(v.get("x"), "x")?;
                if x.len() != signature::ED25519_PUBLIC_KEY_LEN {
                    return Err("an Ed25519 key of 32 bytes expected".into());
                }
                Material::Ed25519(x)
            }
            _ => return Ok(None),
        },
        Some("oct") if allow_secret => {
            let k = b64(v.get("k"), "k")?;
            hmac_key(&k).material
        }
        Some("oct") => return Err("is a shared secret, which gw takes only from a file".into()),
        Some(_) => return Ok(None),
        None => return Err("has no `kty`".into()),
    };
    if let Some(a) = alg {
        let key = Key {
            kid: None,
            alg: None,
            material,
        };
        key.admits(a)
            .map_err(|_| format!("says alg {} for another key type", a.name()))?;
        return Ok(Some(Key {
            kid,
            alg: Some(a),
            material: key.material,
        }));
    }
    Ok(Some(Key { kid, alg, material }))
}

/// A JWKS document (RFC 7517 §5). Symmetric (`oct`) keys only when `allow_secret` (a file,
/// never a URL). Keys of types or curves gw does not verify are left out; a set with no key gw
/// can use is an error.
pub(crate) fn parse_jwks(text: &[u8], allow_secret: bool) -> Result<KeySet, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let Some(list) = doc.get("keys").and_then(serde_json::Value::as_array) else {
        return Err("the JWKS has no `keys` array".into());
    };
    let mut set = KeySet::default();
    for (i, v) in list.iter().enumerate() {
        let what = |why: String| match v.get("kid").and_then(serde_json::Value::as_str) {
            Some(k) => format!("JWKS key {k:?} {why}"),
            None => format!("JWKS key #{i} {why}"),
        };
        if let Some(k) = jwk(v, allow_secret).map_err(what)? {
            if k.kid.is_some() && k.kid.as_deref().and_then(|kid| set.find(kid)).is_some() {
                return Err(what("repeats a kid".into()));
            }
            set.keys.push(k);
        }
        if set.keys.len() > MAX_KEYS {
            return Err(format!("the JWKS holds more than {MAX_KEYS} keys"));
        }
    }
    if set.keys.is_empty() {
        return Err("the JWKS has no signing key gw can use (RSA, EC P-256/P-384, Ed25519)".into());
    }
    Ok(set)
}

/// DER object identifiers, as their encoded bytes.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A DER reader over one level of TLVs (definite lengths only, as DER requires).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let bad = || "the key is not valid DER".to_string();
        let [t, first, rest @ ..] = self.0 else {
            return Err(bad());
        };
        if *t != tag {
            return Err(bad());
        }
        let (len, rest) = match *first {
            n if n < 0x80 => (usize::from(n), rest),
            0x81..=0x84 => {
                let k = usize::from(*first - 0x80);
                let (bytes, rest) = rest.split_at_checked(k).ok_or_else(bad)?;
                (
                    bytes.iter().fold(0usize, |a, b| a << 8 | usize::from(*b)),
                    rest,
                )
            }
            _ => return Err(bad()),
        };
        let (value, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
        self.0 = rest;
        Ok(value)
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_der(der: &[u8]) -> Result<Material, String> {
    let mut outer = Der(der);
    let mut seq = Der(outer.next(SEQUENCE)?);
    let n = seq.next(INTEGER)?;
    let e = seq.next(INTEGER)?;
    rsa(n, e)
}

/// A SubjectPublicKeyInfo (RFC 5280 §4.1): RSA, EC P-256/P-384 or Ed25519.
fn spki(der: &[u8]) -> Result<Material, String> {
    let mut outer = Der(der);
    let mut info = Der(outer.next(SEQUENCE)?);
    let mut alg = Der(info.next(SEQUENCE)?);
    let oid = alg.next(OID)?;
    let curve = if alg.peek() == Some(OID) {
        Some(alg.next(OID)?)
    } else {
        None
    };
    let bits = info.next(BIT_STRING)?;
    let Some((0, key)) = bits.split_first() else {
        return Err("the key is not valid DER".into());
    };
    match (oid, curve) {
        (OID_RSA | OID_RSA_PSS, _) => rsa_der(key),
        (OID_EC, Some(c)) => {
            let family = match c {
                OID_P256 => Family::P256,
                OID_P384 => Family::P384,
                _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
            };
            match key.split_first() {
                Some((4, xy)) if xy.len() % 2 == 0 => {
                    let (x, y) = xy.split_at(xy.len() / 2);
                    ec(family, x, y)
                }
                _ => Err("an EC key that is not an uncompressed point".into()),
            }
        }
        (OID_ED25519, _) if key.len() == signature::ED25519_PUBLIC_KEY_LEN => {
            Ok(Material::Ed25519(key.to_vec()))
        }
        _ => Err("a public key of a type gw does not verify".into()),
    }
}

/// A PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
pub(crate) fn parse_pem(text: &str) -> Result<Key, String> {
    let mut label = None;
    let mut body = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if label.is_some() {
                return Err("the PEM file holds more than one block".into());
            }
            label = Some(l.to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let Some(label) = label else {
        return Err("no `-----BEGIN PUBLIC KEY-----` block".into());
    };
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the PEM body is not base64".to_string())?;
    let material = match label.as_str() {
        "PUBLIC KEY" => spki(&der)?,
        "RSA PUBLIC KEY" => rsa_der(&der)?,
        other => {
            return Err(format!(
                "a `{other}` block: gw takes a public key (`PUBLIC KEY`)"
            ));
        }
    };
    Ok(Key {
        kid: None,
        alg: None,
        material,
    })
}
