//! The codes a second factor takes: an app's (6 digits) or a recovery code, and how recovery
//! codes are made and stored.

use crate::secret_token::token_hash;

/// How many recovery codes an activation (or a regeneration) hands out.
pub const RECOVERY_CODES: usize = 10;

/// The letters recovery codes are made of: no 0/o, 1/l/i to misread.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Whether `code` has the shape of an app's code (6 digits, spaces allowed).
pub(super) fn is_app_code(code: &str) -> bool {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

/// A recovery code as stored: lower case, without separators.
pub(super) fn recovery_hash(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    token_hash(&plain)
}

/// Ten new recovery codes (`xxxx-xxxx-xxxx-xxxx`, ~79 bits each) and their hashes.
pub(super) fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let letters: Vec<u8> = (0..16)
                .map(|_| RECOVERY_ALPHABET[rand::random_range(0..RECOVERY_ALPHABET.len())])
                .collect();
            letters
                .chunks(4)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let hashes = codes.iter().map(|code| recovery_hash(code)).collect();
    (codes, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_and_match_their_hashes_in_any_case() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(&recovery_hash(&code.to_uppercase().replace('-', " ")), hash);
        }
        assert!(is_app_code("123 456") && !is_app_code("12345") && !is_app_code("abcd-efgh"));
    }
}
