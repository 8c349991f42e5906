use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A user name: 1 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
/// Stored lower-case, so `Dev` and `dev` are the same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim().to_ascii_lowercase();
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.len() > 64 {
            return Err(NameError("a user name must be 1 to 64 characters long".into()));
        }
        if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(NameError(format!(
                "`{raw}` is not a valid user name: use a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
            )));
        }
        Ok(Self(name))
    }
}

impl Username {
    /// Names Wharf itself acts under (in the audit log, on timelines, as the decider of a timed
    /// out level): no new account, local or from single sign-on, may take one.
    pub const RESERVED: [&'static str; 4] = ["system", "cli", "oidc", "wharf"];

    /// A name for a new account: valid, and not reserved.
    pub fn parse_new(raw: &str) -> Result<Self, NameError> {
        let name = Self::parse(raw)?;
        if Self::is_reserved(&name.0) {
            return Err(NameError(format!("`{}` is reserved for Wharf itself: choose another user name", name.0)));
        }
        Ok(name)
    }

    pub fn is_reserved(name: &str) -> bool {
        Self::RESERVED.contains(&name)
    }
}

/// The one rule for the names of hosts, groups, catalog items, blueprints and deployments:
/// 2 to 63 characters of `a-z 0-9 -`, not starting or ending with `-` (BLUEPRINTS.md's slug;
/// a blueprint id is also at least 3 long, see `Slug::parse_blueprint_id`). Names stored before
/// this rule are read as they are: only new names are parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

/// Groups are named by a slug.
pub type GroupName = Slug;

fn slug_shaped(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Slug {
    pub const MIN: usize = 2;
    pub const MAX: usize = 63;

    /// Exactly `raw`: surrounding spaces are an error here (a caller that accepts them trims
    /// first), so what is checked is what is stored.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if slug_shaped(raw, Self::MIN, Self::MAX) {
            Ok(Self(raw.to_string()))
        } else {
            Err(NameError(format!(
                "`{raw}` must be {} to {} characters of a-z, 0-9 and '-', not starting or ending with '-'",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    /// A blueprint id: a slug of at least 3 characters (BLUEPRINTS.md).
    pub fn parse_blueprint_id(raw: &str) -> Result<Self, NameError> {
        match Self::parse(raw) {
            Ok(s) if s.0.len() >= 3 => Ok(s),
            _ => Err(NameError(format!(
                "`{raw}` must be 3 to {} characters of a-z, 0-9 and '-', not starting or ending with '-'",
                Self::MAX
            ))),
        }
    }
}

/// A component's (or a named volume's) name in a blueprint: 1 to 40 characters of
/// `a-z 0-9 -`, not starting or ending with `-`; it becomes part of container names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentName(String);

impl ComponentName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if slug_shaped(raw, 1, 40) {
            Ok(Self(raw.to_string()))
        } else {
            Err(NameError(format!("`{raw}` must be 1 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'")))
        }
    }
}

/// The key of a blueprint input (`${inputs.KEY}`): 1 to 64 characters of `a-z 0-9 _`,
/// starting with a letter or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InputKey(String);

impl InputKey {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(NameError(format!("`{raw}` must be 1 to 64 characters of a-z, 0-9 and '_', starting with a letter or '_'")))
        }
    }
}

macro_rules! string_newtype {
    ($t:ty) => {
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}
string_newtype!(Username);
string_newtype!(Slug);
string_newtype!(ComponentName);
string_newtype!(InputKey);

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Manager => "manager",
        }
    }
}

impl FromStr for Role {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "manager" => Ok(Role::Manager),
            other => Err(NameError(format!("`{other}` is not a role: use member or manager"))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Dev ").unwrap().as_ref(), "dev");
        assert!(Username::parse("a.b_c-1").is_ok());
        assert!(Username::parse_new("System").is_err(), "reserved, whatever the case");
        assert!(Username::parse_new("systems").is_ok());
        for bad in ["", "-x", "bad name", "é", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slugs_one_rule_for_every_kind_of_name() {
        assert!(Slug::parse("team-a").is_ok());
        assert!(Slug::parse("qa").is_ok());
        for bad in ["a", "Team", "team-", "-team", "-edge-", "web-", "team_a", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Slug::parse_blueprint_id("qa").is_err());
        assert!(Slug::parse_blueprint_id("web").is_ok());
        assert!(Slug::parse("x y").unwrap_err().0.contains("2 to 63 characters"));
        assert!(Slug::parse(" web").is_err(), "spaces are not trimmed away");
    }

    #[test]
    fn component_names_and_input_keys() {
        assert!(ComponentName::parse("db").is_ok() && ComponentName::parse("w").is_ok());
        for bad in ["", "web-", "Web", &"x".repeat(41)] {
            assert!(ComponentName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(InputKey::parse("memory_mb").is_ok() && InputKey::parse("_x").is_ok());
        for bad in ["", "9x", "Memory", "a-b", &"x".repeat(65)] {
            assert!(InputKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles() {
        assert_eq!("manager".parse::<Role>().unwrap(), Role::Manager);
        assert!("owner".parse::<Role>().is_err());
    }
}
