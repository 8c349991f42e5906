//! The request lifecycle of PRODUCT.md as a state machine.
use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    PendingApproval,
    Approved,
    Rejected,
    Provisioning,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} request cannot be {to}")]
pub struct TransitionError {
    pub from: RequestStatus,
    pub to: &'static str,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::PendingApproval => "pending_approval",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Provisioning => "provisioning",
            RequestStatus::Succeeded => "succeeded",
            RequestStatus::Failed => "failed",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending_approval" => RequestStatus::PendingApproval,
            "approved" => RequestStatus::Approved,
            "rejected" => RequestStatus::Rejected,
            "provisioning" => RequestStatus::Provisioning,
            "succeeded" => RequestStatus::Succeeded,
            "failed" => RequestStatus::Failed,
            "cancelled" => RequestStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn approve(self) -> Result<Self, TransitionError> {
        match self {
            RequestStatus::PendingApproval => Ok(RequestStatus::Approved),
            from => Err(TransitionError { from, to: "approved" }),
        }
    }
    pub fn reject(self) -> Result<Self, TransitionError> {
        match self {
            RequestStatus::PendingApproval => Ok(RequestStatus::Rejected),
            from => Err(TransitionError { from, to: "rejected" }),
        }
    }
    /// The requester may cancel until provisioning starts.
    pub fn cancel(self) -> Result<Self, TransitionError> {
        match self {
            RequestStatus::PendingApproval | RequestStatus::Approved => Ok(RequestStatus::Cancelled),
            from => Err(TransitionError { from, to: "cancelled" }),
        }
    }
    pub fn start_provisioning(self) -> Result<Self, TransitionError> {
        match self {
            RequestStatus::Approved => Ok(RequestStatus::Provisioning),
            from => Err(TransitionError { from, to: "provisioned" }),
        }
    }
    pub fn finish(self, ok: bool) -> Result<Self, TransitionError> {
        match self {
            RequestStatus::Provisioning => Ok(if ok { RequestStatus::Succeeded } else { RequestStatus::Failed }),
            from => Err(TransitionError { from, to: if ok { "succeeded" } else { "failed" } }),
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::RequestStatus as S;

    #[test]
    fn transitions() {
        assert_eq!(S::PendingApproval.approve(), Ok(S::Approved));
        assert!(S::Approved.approve().is_err());
        assert_eq!(S::Approved.cancel(), Ok(S::Cancelled));
        assert!(S::Provisioning.cancel().is_err());
        assert_eq!(S::Provisioning.finish(false), Ok(S::Failed));
        assert_eq!(S::Approved.start_provisioning(), Ok(S::Provisioning));
        assert!(S::Rejected.start_provisioning().is_err());
        assert_eq!(S::parse("succeeded"), Some(S::Succeeded));
    }
}
