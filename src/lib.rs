//! Wharf: a self-service container portal. The binary in `main.rs` is a thin shell over this library,
//! so that the integration tests drive the same code.
pub mod auth;
pub mod cli;
pub mod config;
pub mod docker;
pub mod domain;
pub mod engine;
pub mod failpoint;
pub mod metrics;
pub mod sealing;
pub mod services;
pub mod signals;
pub mod startup;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod wakeups;
pub mod web;
