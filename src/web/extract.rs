//! Extractors that demand a role. Every handler names the one it needs, so the role check is
//! in its signature: `Anyone`, `Signed` (any logged-in user) or `Admin`.
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::error::AppError;
use crate::auth::{AuthContext, Principal};

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

/// The client's address as the socket sees it (proxies' forwarding headers are not trusted).
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "no-peer-address".into())
}
