//! What admins publish and govern — catalog `items`, `entitlements`, approval `policies`,
//! `quotas` — and the `offer`: what each user may request.
mod entitlements;
mod items;
mod offer;
mod policies;
mod quotas;

pub use entitlements::*;
pub use items::*;
pub use offer::*;
pub use policies::*;
pub use quotas::*;

/// The day-2 actions an entitlement can grant.
pub const ACTIONS: [&str; 8] = ["start", "stop", "restart", "logs", "console", "extend_lease", "destroy", "scale"];
