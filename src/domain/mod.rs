//! Types and rules, no I/O. Values are parsed once at the edge and carried as these types.
pub mod blueprint;
mod names;
pub mod placement;
mod secret;

pub use names::{GroupName, NameError, Role, Username};
pub use secret::Secret;
