//! What pages show besides their data: the layout (title, the caller for the navigation, the
//! CSRF token), the pager, form errors and the input fields generated from a blueprint.
use std::collections::BTreeMap;

use crate::auth::AuthContext;
use crate::domain::blueprint::InputSpec;
use crate::services::{FieldError, Page};

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
    /// Has an approvals inbox: managers and admins.
    pub may_approve: bool,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current: the `section` of an `m::nav` link in base.html.
    pub section: &'static str,
    pub user: Option<NavUser>,
    pub csrf_token: String,
}

/// The navigation sections of the admin pages (one group in the top bar).
const ADMIN_SECTIONS: &[&str] =
    &["all-deployments", "governance", "blueprints", "hosts", "users", "groups", "registries", "webhooks", "mail", "audit"];

impl Layout {
    /// Whether the page is one of the admin pages (its group shows as current).
    pub fn in_admin(&self) -> bool {
        ADMIN_SECTIONS.contains(&self.section)
    }

    pub fn new(ctx: Option<&AuthContext>, section: &'static str, title: &str) -> Self {
        let user = ctx.and_then(|c| c.principal.as_ref()).map(|p| NavUser {
            username: p.username.clone(),
            display_name: p.display_name.clone(),
            is_admin: p.is_admin,
            is_manager: p.is_manager(),
            may_approve: p.is_admin || p.is_manager(),
        });
        Self { title: title.to_string(), section, user, csrf_token: ctx.map(|c| c.csrf_token.clone()).unwrap_or_default() }
    }
}

/// Field errors of a form, looked up by field name in templates.
#[derive(Debug, Default)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
    /// Errors that belong to no field of the form (a conflict, say).
    pub fn general(&self) -> Option<&str> {
        self.get("")
    }
    /// Every error of `field`, in order (a policy's levels, say).
    pub fn all(&self, field: &str) -> Vec<&str> {
        self.0.iter().filter(|e| e.field == field).map(|e| e.message.as_str()).collect()
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
    /// The fields of a blueprint's inputs: `given` holds what the user typed, `errors` the
    /// form's errors (an input's error is under `inputs.<name>`).
    pub fn for_inputs(specs: &[InputSpec], given: &BTreeMap<String, String>, errors: &FormErrors) -> Vec<Self> {
        specs
            .iter()
            .map(|i| {
                Self::for_spec(i, given.get(&i.name).map(String::as_str), errors.get(&format!("inputs.{}", i.name)).map(str::to_string))
            })
            .collect()
    }

    /// `value` is what the user typed (kept on errors); secrets are never filled back in.
    fn for_spec(spec: &InputSpec, value: Option<&str>, error: Option<String>) -> Self {
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
            hint.push(format!("must match {}", crate::domain::blueprint::inputs::shown_pattern(p)));
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
            pattern: spec.pattern.as_ref().map(|p| crate::domain::blueprint::inputs::shown_pattern(p).to_string()),
            required: spec.default.is_none() && !spec.generate && spec.kind != InputType::Boolean,
            hint: hint.join(" · "),
            error,
        }
    }
}

/// `?page=N&per_page=M` of a list (pages and the API alike); filters have their own query
/// struct beside it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// The audit log's filters, for its page and its API.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}
