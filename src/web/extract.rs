//! Extractors that demand a role. Every handler names the one it needs, so the role check is
//! in its signature: `Anyone`, `Signed` (any logged-in user) or `Admin`.
use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::error::AppError;
use crate::auth::{AuthContext, Principal};
use crate::config::IpNet;

fn context(req: &HttpRequest) -> Result<AuthContext, AppError> {
    req.extensions().get::<AuthContext>().cloned().ok_or_else(|| AppError::Internal("the authentication middleware did not run".into()))
}

/// Any caller, logged in or not.
pub struct Anyone(pub AuthContext);

/// A logged-in user (session or API token).
pub struct Signed {
    pub principal: Principal,
    pub ctx: AuthContext,
}

/// An admin.
pub struct Admin {
    pub principal: Principal,
    pub ctx: AuthContext,
}

impl FromRequest for Anyone {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(context(req).map(Anyone))
    }
}

fn signed(req: &HttpRequest) -> Result<Signed, AppError> {
    let ctx = context(req)?;
    match ctx.principal.clone() {
        Some(principal) => Ok(Signed { principal, ctx }),
        None => Err(AppError::Unauthorized("log in first: this needs a session or an API token".into())),
    }
}

impl FromRequest for Signed {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed(req))
    }
}

impl FromRequest for Admin {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed(req).and_then(|s| {
            if s.principal.is_admin {
                Ok(Admin { principal: s.principal, ctx: s.ctx })
            } else {
                Err(AppError::Forbidden("only an admin may do this".into()))
            }
        }))
    }
}

/// The client's address: the socket's peer, or, when the peer is one of `trusted_proxies`, the
/// last address in `X-Forwarded-For` that is not a trusted proxy (a client cannot forge what
/// the proxies in front of Wharf appended). From anyone else the header is ignored.
pub fn client_address(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "no-peer-address".into();
    };
    let trusted = req.app_data::<actix_web::web::Data<super::AppState>>().map(|s| s.settings.trusted_proxies.as_slice()).unwrap_or(&[]);
    forwarded_client(peer, req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()), trusted).to_string()
}

fn forwarded_client<'a>(peer: IpAddr, headers: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return ip,
            // Garbage from further out: the last trustworthy address is as far as one can see.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap(), IpNet::parse("127.0.0.1").unwrap()];
        // Not a proxy: the header is the client's own invention.
        assert_eq!(forwarded_client(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted), ip("203.0.113.9"));
        // Through the proxy: the address it appended.
        assert_eq!(forwarded_client(ip("127.0.0.1"), ["198.51.100.7"].into_iter(), &trusted), ip("198.51.100.7"));
        // A forged first hop is skipped: the proxy appended the real one last.
        assert_eq!(forwarded_client(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7"].into_iter(), &trusted), ip("198.51.100.7"));
        // Two proxies; several headers.
        assert_eq!(forwarded_client(ip("10.1.1.1"), ["198.51.100.7", "10.2.2.2"].into_iter(), &trusted), ip("198.51.100.7"));
        // Garbage: the last trusted hop.
        assert_eq!(forwarded_client(ip("10.1.1.1"), ["nonsense"].into_iter(), &trusted), ip("10.1.1.1"));
        assert_eq!(forwarded_client(ip("127.0.0.1"), std::iter::empty(), &trusted), ip("127.0.0.1"));
    }
}
