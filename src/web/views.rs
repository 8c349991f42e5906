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
        Self { title: title.to_string(), section, user, csrf_token: ctx.map(|c| c.csrf_token.clone()).unwrap_or_default() }
    }

    pub fn for_user(principal: &Principal, csrf_token: &str, section: &'static str, title: &str) -> Self {
        let ctx = AuthContext { principal: Some(principal.clone()), csrf_token: csrf_token.to_string(), session_token: None };
        Self::new(Some(&ctx), section, title)
    }
}

/// One field of a form generated from a blueprint's typed inputs.
#[derive(Debug, Clone)]
pub struct InputField {
    pub name: String,
    pub title: String,
    pub description: String,
    /// text, password, number, select or checkbox
    pub widget: &'static str,
    pub value: String,
    pub checked: bool,
    pub choices: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<String>,
    pub required: bool,
    /// The constraints, said for people.
    pub hint: String,
    pub error: Option<String>,
}

impl InputField {
    /// `value` is what the user typed (kept on errors); secrets are never filled back in.
    pub fn for_spec(spec: &crate::domain::blueprint::InputSpec, value: Option<&str>, error: Option<String>) -> Self {
        use crate::domain::blueprint::InputType;
        let default = spec.default.as_ref().map(|d| d.render());
        let choices: Vec<String> = spec.choices.iter().flatten().map(|c| c.render()).collect();
        let widget = match spec.kind {
            InputType::Boolean => "checkbox",
            _ if !choices.is_empty() => "select",
            InputType::Integer => "number",
            InputType::String if spec.secret => "password",
            InputType::String => "text",
        };
        let value = if spec.secret { String::new() } else { value.map(str::to_string).or(default.clone()).unwrap_or_default() };
        let mut hint = Vec::new();
        match (spec.min, spec.max) {
            (Some(a), Some(b)) => hint.push(format!("{a} to {b}")),
            (Some(a), None) => hint.push(format!("at least {a}")),
            (None, Some(b)) => hint.push(format!("at most {b}")),
            _ => {}
        }
        if let Some(p) = &spec.pattern {
            hint.push(format!("must match {}", p.as_str()));
        }
        if let (Some(a), Some(b)) = (spec.min_length, spec.max_length) {
            hint.push(format!("{a} to {b} characters"));
        }
        if spec.generate {
            hint.push("leave empty to generate one".into());
        }
        if let Some(d) = default.as_ref().filter(|_| !spec.secret && spec.kind != InputType::Boolean) {
            hint.push(format!("default {d}"));
        }
        Self {
            name: spec.name.clone(),
            title: spec.title.clone(),
            description: spec.description.clone(),
            widget,
            checked: value == "true",
            value,
            choices,
            min: spec.min,
            max: spec.max,
            pattern: spec.pattern.as_ref().map(|p| p.as_str().to_string()),
            required: spec.default.is_none() && !spec.generate && spec.kind != InputType::Boolean,
            hint: hint.join(" · "),
            error,
        }
    }
}
