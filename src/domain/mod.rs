//! Types and rules, no I/O. Values are parsed once at the edge and carried as these types.
pub mod blueprint;
pub mod deployment;
mod names;
pub mod pairs;
pub mod placement;
pub mod policy;
pub mod quota;
pub mod secret;
pub mod states;

pub use names::{ComponentName, GroupName, InputKey, NameError, Role, Slug, Username};
pub use secret::Secret;
