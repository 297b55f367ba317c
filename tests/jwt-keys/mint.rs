//! Test keys and a JWS signer, shared by the jwt plugin's unit tests, the end-to-end tests
//! and the benches (each includes this file with `#[path]`). The PEM files beside it are test
//! keys made with `openssl genpkey` for these tests only.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use serde_json::{Value, json};

pub const RSA: &str = include_str!("rsa.pk8.pem");
pub const RSA_PUB: &str = include_str!("rsa.pub.pem");
pub const RSA2: &str = include_str!("rsa2.pk8.pem");
pub const EC256: &str = include_str!("ec256.pk8.pem");
pub const EC256_PUB: &str = include_str!("ec256.pub.pem");
pub const EC384: &str = include_str!("ec384.pk8.pem");
pub const ED25519: &str = include_str!("ed25519.pk8.pem");
pub const ED25519_PUB: &str = include_str!("ed25519.pub.pem");
/// An HMAC secret long enough for HS512 (64 bytes).
pub const SECRET: &str = "gw-test-secret-gw-test-secret-gw-test-secret-gw-test-secret-0123";

/// RFC 7515 A.1: the HS256 example and its key.
pub const A1_JWK: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
pub const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// RFC 7515 A.2: the RS256 example and its public key.
pub const A2_JWK: &str = r#"{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}"#;
pub const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
/// RFC 7515 A.3: the ES256 example and its public key.
pub const A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
pub const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
/// Unix ms a little before the examples' `exp` (1300819380, in 2011).
pub const A_NOW_MS: i64 = 1_300_819_000_000;

/// Every algorithm gw verifies.
pub const ALL: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// The `kid` of the test key that signs `alg`.
pub fn kid_of(alg: &str) -> &'static str {
    match alg {
        "HS256" | "HS384" | "HS512" => "hs",
        "ES256" => "p256",
        "ES384" => "p384",
        "EdDSA" => "ed",
        _ => "rsa",
    }
}

/// The DER bytes of a PEM block.
pub fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key that signs JWS.
pub enum Signer {
    Hmac(Vec<u8>),
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair, &'static str),
    Ed(signature::Ed25519KeyPair),
}

impl Signer {
    pub fn hmac(secret: &[u8]) -> Signer {
        Signer::Hmac(secret.to_vec())
    }

    pub fn rsa(pem: &str) -> Signer {
        Signer::Rsa(signature::RsaKeyPair::from_pkcs8(&der(pem)).unwrap())
    }

    pub fn ec256() -> Signer {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let k = signature::EcdsaKeyPair::from_pkcs8(alg, &der(EC256), &SystemRandom::new());
        Signer::Ec(k.unwrap(), "P-256")
    }

    pub fn ec384() -> Signer {
        let alg = &signature::ECDSA_P384_SHA384_FIXED_SIGNING;
        let k = signature::EcdsaKeyPair::from_pkcs8(alg, &der(EC384), &SystemRandom::new());
        Signer::Ec(k.unwrap(), "P-384")
    }

    pub fn ed25519() -> Signer {
        Signer::Ed(signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der(ED25519)).unwrap())
    }

    /// The signer for `alg` with the default test key of its family.
    pub fn for_alg(alg: &str) -> Signer {
        match alg {
            "HS256" | "HS384" | "HS512" => Signer::hmac(SECRET.as_bytes()),
            "ES256" => Signer::ec256(),
            "ES384" => Signer::ec384(),
            "EdDSA" => Signer::ed25519(),
            _ => Signer::rsa(RSA),
        }
    }

    /// The signature of `input` with `alg`.
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Hmac(secret) => {
                let h = match alg {
                    "HS384" => ring::hmac::HMAC_SHA384,
                    "HS512" => ring::hmac::HMAC_SHA512,
                    _ => ring::hmac::HMAC_SHA256,
                };
                ring::hmac::sign(&ring::hmac::Key::new(h, secret), input)
                    .as_ref()
                    .to_vec()
            }
            Signer::Rsa(k) => {
                let pad: &'static dyn signature::RsaEncoding = match alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(pad, &rng, input, &mut sig).unwrap();
                sig
            }
            Signer::Ec(k, _) => k.sign(&rng, input).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    /// The public JWK of this key (`k` for a secret).
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Hmac(s) => json!({"kty": "oct", "kid": kid, "k": b64(s)}),
            Signer::Rsa(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Signer::Ec(k, crv) => {
                let p = k.public_key().as_ref();
                let (x, y) = p[1..].split_at((p.len() - 1) / 2);
                json!({"kty": "EC", "kid": kid, "crv": crv, "x": b64(x), "y": b64(y)})
            }
            Signer::Ed(k) => {
                json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        }
    }
}

/// `header.payload.signature` from JSON texts, signed with `alg`.
pub fn raw(signer: &Signer, alg: &str, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = signer.sign(alg, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// A token with header `{"alg", "typ": "JWT"}` plus `kid` when given, and `claims`.
pub fn token(signer: &Signer, alg: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut h = json!({"alg": alg, "typ": "JWT"});
    if let Some(k) = kid {
        h["kid"] = json!(k);
    }
    raw(signer, alg, &h.to_string(), &claims.to_string())
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
