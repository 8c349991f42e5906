//! The approve and reject links of approval mails. A link's token is sealed (AES-GCM under the
//! server's key, so nobody can make or alter one) and names the request, its level, the approver
//! and the decision. It opens a confirmation page, for the approver logged in, and decides
//! nothing by itself; it works once, while that level waits on that approver: after the
//! approver's decision (by this link or any other way), or once the level is over, it is refused.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::sealing::{Kind, Sealer};

/// How long a link lives at most, whatever its level does.
const MAX_AGE_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproveLink {
    #[serde(rename = "r")]
    pub request_id: String,
    /// The level (from 0) it decides.
    #[serde(rename = "l")]
    pub level: i32,
    /// The approver it was sent to.
    #[serde(rename = "u")]
    pub user_id: i64,
    #[serde(rename = "a")]
    pub approve: bool,
    /// Unix seconds after which it is refused.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl ApproveLink {
    pub fn new(request_id: &str, level: i32, user_id: i64, approve: bool) -> Self {
        Self {
            request_id: request_id.to_string(),
            level,
            user_id,
            approve,
            expires: (Utc::now() + chrono::Duration::days(MAX_AGE_DAYS)).timestamp(),
        }
    }

    /// The token for a URL path.
    pub fn token(&self, sealer: &Sealer) -> String {
        let plain = serde_json::to_string(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(sealer.seal(Kind::ApproveLink, &plain))
    }

    /// The link a token stands for; `Err` says why it is refused (damaged, not this server's, too old).
    pub fn read(sealer: &Sealer, token: &str) -> Result<Self, &'static str> {
        const DAMAGED: &str = "this link is damaged or was not made by this server; open the request from your approvals instead";
        let sealed = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| DAMAGED)?;
        let sealed = String::from_utf8(sealed).map_err(|_| DAMAGED)?;
        if !Sealer::is_sealed(&sealed) {
            return Err(DAMAGED);
        }
        let plain = sealer.open(Kind::ApproveLink, &sealed).map_err(|_| DAMAGED)?;
        let link: Self = serde_json::from_str(&plain).map_err(|_| DAMAGED)?;
        if link.expires < Utc::now().timestamp() {
            return Err("this link is too old; open the request from your approvals instead");
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_back_and_refuse_tampering() {
        let (sealer, _) = Sealer::generate();
        let link = ApproveLink::new("r-1", 0, 7, true);
        let token = link.token(&sealer);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{token}");
        assert_eq!(ApproveLink::read(&sealer, &token), Ok(link.clone()));
        let (other, _) = Sealer::generate();
        assert!(ApproveLink::read(&other, &token).is_err(), "another server's key");
        let mut bytes = token.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        assert!(ApproveLink::read(&sealer, &String::from_utf8(bytes).unwrap()).is_err(), "altered");
        assert!(ApproveLink::read(&sealer, "not-a-token").is_err());
        let old = ApproveLink { expires: 1, ..link };
        assert!(ApproveLink::read(&sealer, &old.token(&sealer)).unwrap_err().contains("too old"));
    }
}
