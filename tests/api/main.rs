//! Wharf's integration suite: one binary, the real app on real databases and Docker engines.
mod client;
mod fixtures;
mod helpers;

mod accounts;
mod auth;
mod blueprints;
mod browser;
mod cli;
mod crash;
mod docker;
mod faults;
mod health;
mod hosts;
mod lifecycle;
mod mail;
mod notify;
mod observe;
mod oidc;
mod openapi;
mod provisioning;
mod replicas;
mod requests;
mod roles;
mod security;
mod selfservice;
mod tokens;
