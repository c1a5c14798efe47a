//! Where a node's signing keys come from: an environment variable, a file, or an encrypted JSON keystore
//! (Web3 Secret Storage, as geth and Foundry write them; the password from an environment variable).
//!
//! A key is never printed or logged: errors name the source (variable, file), never the value, and the signer's
//! `Debug` shows its address only.

use std::path::PathBuf;

use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;

/// One key's source, as written in the configuration:
/// `{ env = "VIGIL_KEY" }`, `{ file = "/run/secrets/vigil.key" }` or
/// `{ keystore = "/keys/node.json", password_env = "VIGIL_KEYSTORE_PASSWORD" }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged, deny_unknown_fields)]
pub enum KeySource {
    /// A hex private key in an environment variable.
    Env {
        /// The variable's name.
        env: String,
    },
    /// A hex private key in a file (surrounding whitespace ignored).
    File {
        /// The file.
        file: PathBuf,
    },
    /// An encrypted JSON keystore.
    Keystore {
        /// The keystore file.
        keystore: PathBuf,
        /// The variable holding its password.
        password_env: String,
    },
}

/// A key that could not be loaded. The messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The variable is not set.
    #[error("key variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The value is not a private key.
    #[error("{origin} does not hold a 32-byte hex private key")]
    NotAKey {
        /// Where it came from.
        origin: String,
    },
    /// The keystore could not be decrypted.
    #[error("keystore {path}: cannot decrypt (wrong password or not a keystore)")]
    Keystore {
        /// The file.
        path: String,
    },
}

impl KeySource {
    /// Loads the key.
    pub fn load(&self) -> Result<PrivateKeySigner, KeyError> {
        match self {
            KeySource::Env { env } => {
                let value = std::env::var(env).map_err(|_| KeyError::MissingEnv(env.clone()))?;
                parse_key(&value, &format!("key variable {env}"))
            }
            KeySource::File { file } => {
                let value = std::fs::read_to_string(file)
                    .map_err(|source| KeyError::Read { path: file.display().to_string(), source })?;
                parse_key(&value, &format!("key file {}", file.display()))
            }
            KeySource::Keystore { keystore, password_env } => {
                let password = std::env::var(password_env).map_err(|_| KeyError::MissingEnv(password_env.clone()))?;
                PrivateKeySigner::decrypt_keystore(keystore, password)
                    .map_err(|_| KeyError::Keystore { path: keystore.display().to_string() })
            }
        }
    }
}

fn parse_key(value: &str, origin: &str) -> Result<PrivateKeySigner, KeyError> {
    value.trim().parse::<PrivateKeySigner>().map_err(|_| KeyError::NotAKey { origin: origin.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-keys-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_key_loads_from_a_variable_and_a_file_and_is_never_printed() {
        std::env::set_var("VIGIL_TEST_KEY_A", KEY);
        let from_env = KeySource::Env { env: "VIGIL_TEST_KEY_A".into() }.load().unwrap();
        let dir = tmp("file");
        let file = dir.join("node.key");
        std::fs::write(&file, format!("  {KEY}\n")).unwrap();
        let from_file = KeySource::File { file }.load().unwrap();
        assert_eq!(from_env.address(), from_file.address());
        let shown = format!("{from_env:?}");
        assert!(!shown.contains(&KEY[2..]) && !shown.contains(&KEY[2..10]), "{shown}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn errors_name_the_source_not_the_value() {
        let e = KeySource::Env { env: "VIGIL_TEST_KEY_UNSET".into() }.load().unwrap_err().to_string();
        assert_eq!(e, "key variable VIGIL_TEST_KEY_UNSET is not set");
        std::env::set_var("VIGIL_TEST_KEY_BAD", "0xnotakey-secret-ish");
        let e = KeySource::Env { env: "VIGIL_TEST_KEY_BAD".into() }.load().unwrap_err().to_string();
        assert_eq!(e, "key variable VIGIL_TEST_KEY_BAD does not hold a 32-byte hex private key");
        assert!(!e.contains("secret-ish"));
    }

    #[test]
    fn an_encrypted_keystore_decrypts_with_its_password_only() {
        let dir = tmp("keystore");
        let secret = alloy::hex::decode(&KEY[2..]).unwrap();
        let (signer, _) = PrivateKeySigner::encrypt_keystore(
            &dir,
            &mut rand08::thread_rng(),
            &secret,
            "correct horse",
            Some("node.json"),
        )
        .unwrap();
        std::env::set_var("VIGIL_TEST_KS_PASSWORD", "correct horse");
        let src =
            KeySource::Keystore { keystore: dir.join("node.json"), password_env: "VIGIL_TEST_KS_PASSWORD".into() };
        assert_eq!(src.load().unwrap().address(), signer.address());
        std::env::set_var("VIGIL_TEST_KS_WRONG", "battery staple");
        let wrong = KeySource::Keystore { keystore: dir.join("node.json"), password_env: "VIGIL_TEST_KS_WRONG".into() };
        let e = wrong.load().unwrap_err().to_string();
        assert!(e.ends_with("cannot decrypt (wrong password or not a keystore)"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn sources_parse_from_toml() {
        #[derive(Deserialize)]
        struct T {
            keys: Vec<KeySource>,
        }
        let t: T =
            toml::from_str(r#"keys = [{ env = "A" }, { file = "/k" }, { keystore = "/k.json", password_env = "P" }]"#)
                .unwrap();
        assert_eq!(t.keys.len(), 3);
        assert!(matches!(t.keys[2], KeySource::Keystore { .. }));
    }
}
