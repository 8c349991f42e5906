//! Types and rules, no I/O. Values are parsed once at the edge and carried as these types.
pub mod blueprint;
mod names;
pub mod placement;
pub mod policy;
pub mod quota;
pub mod request;
mod secret;

pub use names::{GroupName, NameError, Role, Username};
pub use secret::Secret;
