//! User passwords: argon2id with the crate's recommended parameters and a
//! random salt per hash (PHC string format, so parameters can change later).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Hashing failed (the RNG or the parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password into an argon2id PHC string.
pub fn hash(password: &str) -> Result<String, HashError> {
    let h: PasswordHash = Argon2::default().hash_password(password.as_bytes()).map_err(|e| HashError(e.to_string()))?;
    Ok(h.to_string())
}

/// True if `password` matches the stored PHC string (constant-time inside argon2).
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong", &h));
    }
}
