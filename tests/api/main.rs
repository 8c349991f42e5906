//! Wharf's integration suite: one binary, the real app on real databases and Docker engines.
mod helpers;

mod accounts;
mod auth;
mod cli;
mod docker;
mod health;
mod roles;
