//! What every page's layout needs: the title, the caller for the navigation, the CSRF token.
use crate::auth::{AuthContext, Principal};
use crate::services::Page;

/// Previous / next links of a paginated list; `query` holds the list's other parameters.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    pub query: String,
}

impl Pager {
    pub fn of<T>(page: &Page<T>, query: &str) -> Self {
        let query = if query.is_empty() { String::new() } else { format!("&{query}") };
        Self { page: page.page, pages: page.pages(), total: page.total, query }
    }
    pub fn prev(&self) -> Option<u64> {
        (self.page > 1).then(|| self.page - 1)
    }
    pub fn next(&self) -> Option<u64> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub is_manager: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current: `home`, `teams`, `users`, `groups`, `audit`.
    pub section: &'static str,
    pub user: Option<NavUser>,
    pub csrf_token: String,
}

impl Layout {
    pub fn new(ctx: Option<&AuthContext>, section: &'static str, title: &str) -> Self {
        let user = ctx.and_then(|c| c.principal.as_ref()).map(|p| NavUser {
            username: p.username.clone(),
            display_name: p.display_name.clone(),
            is_admin: p.is_admin,
            is_manager: p.is_manager(),
        });
        Self {
            title: title.to_string(),
            section,
            user,
            csrf_token: ctx.map(|c| c.csrf_token.clone()).unwrap_or_default(),
        }
    }

    pub fn for_user(principal: &Principal, csrf_token: &str, section: &'static str, title: &str) -> Self {
        let ctx = AuthContext { principal: Some(principal.clone()), csrf_token: csrf_token.to_string(), session_token: None };
        Self::new(Some(&ctx), section, title)
    }
}
