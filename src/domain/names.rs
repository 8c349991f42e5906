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

/// A group name: a slug of 2 to 63 characters `a-z 0-9 -`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim();
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if name.len() < 2 || name.len() > 63 {
            return Err(NameError("a group name must be 2 to 63 characters long".into()));
        }
        if !name.chars().all(ok_char) || name.starts_with('-') || name.ends_with('-') {
            return Err(NameError(format!("`{raw}` is not a valid group name: use a-z, 0-9 and '-', not at either end")));
        }
        Ok(Self(name.to_string()))
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
string_newtype!(GroupName);

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
        for bad in ["", "-x", "bad name", "é", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn group_names() {
        assert!(GroupName::parse("team-a").is_ok());
        for bad in ["a", "Team", "team-", "-team", "team_a", &"x".repeat(64)] {
            assert!(GroupName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles() {
        assert_eq!("manager".parse::<Role>().unwrap(), Role::Manager);
        assert!("owner".parse::<Role>().is_err());
    }
}
