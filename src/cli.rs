//! The command line: `serve` (the default), `migrate`, `user add`.
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::password;
use crate::config::{ConfigError, Overrides, Settings};
use crate::domain::Secret;
use crate::services::accounts::{self, NewUserInput};
use crate::services::{ServiceError, audit, blueprints, bootstrap, hosts, registries};
use crate::startup::{Application, StartError};
use crate::{store, telemetry};

const EXAMPLES: &str = "\
Examples:
  wharf serve --demo                      try it: seeds dev / lead / admin and prints their passwords
  wharf --config /etc/wharf/wharf.toml     serve with a configuration file
  WHARF_DATABASE_URL=postgres://wharf@db/wharf wharf migrate
  wharf user add alice --admin            create an admin; prints a generated password
  wharf host add edge-1 tcp://10.0.0.5:2376 --tls-ca ca.pem --tls-cert cert.pem --tls-key key.pem --label zone=a
  wharf catalog validate ./catalog        lint blueprints: file:line:column: message, exit 1 on errors
  printf '%s' \"$PW\" | wharf user add bob --password-stdin

Configuration: defaults -> wharf.toml -> WHARF_* environment (`__` nests: WHARF_LOGIN__MAX_FAILURES)
-> command-line flags. See README.md for every key.";

#[derive(Debug, Parser)]
#[command(name = "wharf", version, about = "Wharf: a self-service container portal", after_help = EXAMPLES)]
pub struct Cli {
    /// Configuration file (TOML). Without it, ./wharf.toml is read when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides `bind`).
    #[arg(long, global = true, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Database URL: sqlite://wharf.db?mode=rwc or postgres://user:pass@host/db (overrides `database_url`).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal (the default command).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage local user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage Docker hosts.
    #[command(subcommand)]
    Host(HostCommand),
    /// Manage the private registries hosts pull images from.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Work with blueprint folders.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Work with single blueprints.
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
    /// The key that seals secrets at rest (`secret_key_file`).
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every secret again with a new key, in one transaction, then put the new key in
    /// place (the old one is kept as `<file>.old`). Stop every replica first, and give them all
    /// the new file before they start again (refused while a replica still runs).
    Rotate,
}

#[derive(Debug, Subcommand)]
// Parsed once from the command line: the size of one variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum HostCommand {
    /// Register a Docker engine; Wharf connects to it first and refuses one it cannot reach.
    Add {
        /// A name for the host (a-z, 0-9, '-').
        name: String,
        /// unix:///var/run/docker.sock, tcp://host:2375, or tcp://host:2376 with --tls-*
        endpoint: String,
        /// Placement label, KEY=VALUE (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// At most this many Wharf containers on the host.
        #[arg(long)]
        max_containers: Option<i32>,
        /// The address users reach published ports at (default: the endpoint's host, or 127.0.0.1).
        #[arg(long)]
        publish_address: Option<String>,
        /// A local IP of the engine's machine that published ports bind to.
        #[arg(long)]
        bind_address: Option<String>,
        /// The range host ports from inputs must stay within (MIN-MAX).
        #[arg(long)]
        host_ports: Option<String>,
        /// `engine` (default), or `swarm`: the endpoint is a Docker Swarm manager's.
        #[arg(long)]
        kind: Option<String>,
        /// CA certificate (PEM file) that signed the engine's certificate.
        #[arg(long, requires_all = ["tls_cert", "tls_key"])]
        tls_ca: Option<PathBuf>,
        /// Client certificate (PEM file).
        #[arg(long, requires_all = ["tls_ca", "tls_key"])]
        tls_cert: Option<PathBuf>,
        /// Client key (PEM file).
        #[arg(long, requires_all = ["tls_ca", "tls_cert"])]
        tls_key: Option<PathBuf>,
    },
    /// List hosts with their last known health.
    List,
    /// Remove a host; refused while live deployments run there, unless --force.
    Remove {
        name: String,
        /// Remove even with live deployments (their containers stay on the host, unmanaged).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a registry: pulls of images named `<address>/...` use its credentials.
    Add {
        /// `host[:port]`, as image names write it (registry.local:5000).
        address: String,
        /// The username; its password or token is read from standard input (never an argument).
        #[arg(long, requires = "password_stdin")]
        username: Option<String>,
        /// Read the password or token from standard input.
        #[arg(long, requires = "username")]
        password_stdin: bool,
        /// The CA certificate (PEM file) that signs the registry's certificate.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// List registries (never their passwords).
    List,
    /// Forget a registry and its credentials.
    Remove {
        /// Its address.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// Convert a Compose file into a blueprint v1 draft: printed (or written to --output), with
    /// what was left out on standard error (file:line:column: note: …); what cannot be mapped
    /// is an error at its line and column (exit 1). Publish the draft after reviewing it.
    ImportCompose {
        /// The Compose file.
        file: PathBuf,
        /// The blueprint's id (default: the file's `name:`, else the file's name).
        #[arg(long)]
        id: Option<String>,
        /// Write the draft to this file instead of standard output.
        #[arg(long, short, conflicts_with = "publish")]
        output: Option<PathBuf>,
        /// Publish the draft as it is and make it a catalog item of the same id (a 7-day lease,
        /// 30 at most): governed like any item — no group may request it until an admin
        /// entitles one.
        #[arg(long)]
        publish: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Check every blueprint of a folder; exits 1 listing every error (file:line:column: message).
    Validate {
        /// The folder (default: the `catalog_dir` setting).
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Seed a demo organisation: `dev` (member of team-a), `lead` (its manager) and `admin`,
    /// with fresh passwords printed at start. For trying Wharf, never for a real install.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local user. Without --password-stdin a password is generated and printed.
    Add {
        /// The user name (a-z, 0-9, '.', '_', '-').
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The name shown in the portal.
        #[arg(long)]
        display_name: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Change an account: disable or enable it, make it an admin or not, reset its password.
    /// Disabling and a reset end all its sessions and API tokens at once.
    Set {
        name: String,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        #[arg(long)]
        no_admin: bool,
        /// Read a new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Input(String),
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
    /// Already reported on standard error; exit 1.
    #[error("{0}")]
    Reported(String),
}

impl CliError {
    /// 2 for what the user must fix (configuration, input), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Input(_) => 2,
            CliError::Service(ServiceError::Invalid(_) | ServiceError::Conflict(_) | ServiceError::NotFound(_)) => 2,
            _ => 1,
        }
    }
}

/// Runs the command line to its end: the exit code, the error (and its causes) on stderr.
/// The runtime is started here, in the library, rather than in `main.rs`: the whole program is
/// then compiled once, in this crate (a binary that awaited `run` itself would compile every
/// future it awaits again, a minute of a release build).
pub fn main(cli: Cli) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let overrides = Overrides { bind: cli.bind, database_url: cli.database_url };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(settings, args).await,
        Command::Migrate => {
            let db = store::connect(&settings.database_url).await?;
            store::migrate(&db).await?;
            println!("database {} is up to date", settings.database_url);
            Ok(())
        }
        Command::Host(cmd) => host_command(&settings, cmd).await,
        Command::Registry(cmd) => registry_command(&settings, cmd).await,
        Command::Blueprint(BlueprintCommand::ImportCompose { file, id, output, publish }) => {
            let draft = convert_compose(&file, id.as_deref())?;
            match (publish, output) {
                (true, _) => publish_import(&settings, &draft).await,
                (false, Some(out)) => {
                    std::fs::write(&out, &draft.source).map_err(|e| CliError::Input(format!("cannot write {}: {e}", out.display())))?;
                    eprintln!("wrote the blueprint draft to {}", out.display());
                    Ok(())
                }
                (false, None) => {
                    print!("{}", draft.source);
                    Ok(())
                }
            }
        }
        Command::Secrets(SecretsCommand::Rotate) => rotate_secrets(&settings).await,
        Command::Catalog(CatalogCommand::Validate { dir }) => {
            let dir = dir.unwrap_or_else(|| settings.catalog_dir.clone());
            let (count, bad) =
                blueprints::validate_dir(&dir).map_err(|e| CliError::Input(format!("cannot read the folder {}: {e}", dir.display())))?;
            for (file, errors) in &bad {
                for e in errors {
                    eprintln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
                }
            }
            if bad.is_empty() {
                println!("{count} blueprint file(s) in {} are valid", dir.display());
                Ok(())
            } else {
                let errors: usize = bad.iter().map(|(_, e)| e.len()).sum();
                Err(CliError::Reported(format!("{errors} error(s) in {} of {count} file(s)", bad.len())))
            }
        }
        Command::User(UserCommand::Add { name, admin, password_stdin, display_name, email }) => {
            let (pw, generated) = if password_stdin { (read_password_stdin()?, false) } else { (password::generate(), true) };
            let db = store::connect(&settings.database_url).await?;
            store::migrate(&db).await?;
            let input = NewUserInput { username: name, password: Some(pw.clone()), display_name, email, is_admin: admin };
            let user = accounts::create_user(&db, audit::CLI, input).await?;
            println!("created user {}{}", user.username, if user.is_admin { " (admin)" } else { "" });
            if generated {
                println!("password: {}", pw.expose());
            }
            Ok(())
        }
        Command::User(UserCommand::Set { name, disable, enable, admin, no_admin, password_stdin }) => {
            let patch = accounts::UserPatch {
                is_active: (disable || enable).then_some(enable),
                is_admin: (admin || no_admin).then_some(admin),
                password: if password_stdin { Some(read_password_stdin()?) } else { None },
                ..Default::default()
            };
            if patch.is_active.is_none() && patch.is_admin.is_none() && patch.password.is_none() {
                return Err(CliError::Input("nothing to change: give --disable, --enable, --admin, --no-admin or --password-stdin".into()));
            }
            let db = store::connect(&settings.database_url).await?;
            store::migrate(&db).await?;
            // The operator at the console acts as an admin that is no account.
            let operator = crate::auth::Principal {
                user_id: -1,
                username: audit::CLI.into(),
                display_name: audit::CLI.into(),
                is_admin: true,
                groups: Vec::new(),
                via: crate::auth::AuthVia::Session,
            };
            let user = accounts::update_user(&db, &operator, None, &name, patch, false).await?;
            println!(
                "{}: {}{}",
                user.username,
                if user.is_active { "active" } else { "disabled" },
                if user.is_admin { ", admin" } else { "" }
            );
            Ok(())
        }
    }
}

async fn rotate_secrets(settings: &Settings) -> Result<(), CliError> {
    use crate::sealing::{Sealer, write_key_file};
    let input = |e: &dyn std::fmt::Display| CliError::Input(e.to_string());
    let path = &settings.secret_key_file;
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db).await?;
    // Every replica must be stopped: one still running would go on with the old key.
    let running = store::replicas::live(&db).await.map_err(|e| input(&e))?;
    if !running.is_empty() {
        let now = chrono::Utc::now();
        let list = running
            .iter()
            .map(|r| format!("{} (pid {}, seen {} s ago)", r.hostname, r.pid, (now - r.seen_at).num_seconds().max(0)))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(CliError::Input(format!(
            "{} Wharf replica(s) still serve this database: {list}; stop every replica first (one killed rather than \
             stopped drops out {} s after its last heartbeat)",
            running.len(),
            store::replicas::GONE_AFTER.as_secs()
        )));
    }
    let old = Sealer::load(path).map_err(|e| input(&e))?;
    store::sealed::check_key(&db, &old).await.map_err(|e| input(&e))?;
    let (new, text) = Sealer::generate();
    // The new key is on disk before the database depends on it.
    let next = path.with_extension("next");
    let _ = std::fs::remove_file(&next);
    write_key_file(&next, &text).map_err(|e| input(&e))?;
    let txn = store::begin(&db).await.map_err(|e| input(&e))?;
    let n = store::sealed::rotate(&txn, &old, &new).await.map_err(|e| input(&e))?;
    txn.commit().await.map_err(|e| input(&e))?;
    // The old key is kept beside (a link), and the new one replaces it in one step: there is
    // never a moment without a key file.
    let backup = path.with_extension("old");
    let _ = std::fs::remove_file(&backup);
    std::fs::hard_link(path, &backup).map_err(|e| input(&format!("the database uses the new key in {}, but: {e}", next.display())))?;
    std::fs::rename(&next, path).map_err(|e| input(&format!("the database uses the new key in {}, but: {e}", next.display())))?;
    audit::record(
        &db,
        audit::CLI,
        "secrets.rotate",
        "secrets",
        serde_json::json!({"hosts": n.hosts, "requests": n.requests, "deployments": n.deployments, "transcripts": n.transcripts, "webhooks": n.webhooks, "registries": n.registries}),
    )
    .await
    .map_err(|e| input(&e))?;
    println!(
        "sealed again with a new key in {}: {} setting(s), {} host key(s), {} request(s), {} deployment(s), {} console transcript(s), {} webhook secret(s), {} registry password(s); the old key is in {}",
        path.display(),
        n.settings,
        n.hosts,
        n.requests,
        n.deployments,
        n.transcripts,
        n.webhooks,
        n.registries,
        backup.display()
    );
    println!("give every replica the new key file before it starts again, then delete the old one");
    Ok(())
}

/// The key that seals secrets at rest, checked against the database (as `serve` does).
async fn open_sealer(settings: &Settings, db: &sea_orm::DatabaseConnection) -> Result<crate::sealing::Sealer, CliError> {
    let sealer = crate::sealing::Sealer::load_or_create(&settings.secret_key_file).map_err(|e| CliError::Input(e.to_string()))?;
    store::sealed::check_key(db, &sealer).await.map_err(|e| CliError::Input(e.to_string()))?;
    Ok(sealer)
}

fn read_password_stdin() -> Result<Secret, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| CliError::Input(format!("cannot read the password from standard input: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(CliError::Input("--password-stdin: standard input held no password".into()));
    }
    Ok(Secret::new(pw))
}

async fn serve(settings: Settings, args: ServeArgs) -> Result<(), CliError> {
    let admin_password = settings.admin_password.clone();
    let (base_url, bind_ip) = (settings.base_url.clone(), settings.bind.ip());
    let app = Application::build(settings).await?;
    let base = base_url.map(|u| u.to_string()).unwrap_or_else(|| format!("http://{bind_ip}:{}/", app.port()));
    if args.demo {
        println!("demo organisation (passwords are new at each --demo start):");
        for a in bootstrap::seed_demo(app.context()).await? {
            println!("  {:<6} {:<22} {}", a.username, a.password.expose(), a.role);
        }
    }
    if let Some(pw) = bootstrap::ensure_admin(app.db(), admin_password.as_ref()).await? {
        println!("created the first admin account: admin / {}", pw.expose());
        println!("(shown once; set WHARF_ADMIN_PASSWORD to choose it instead)");
    }
    tracing::info!(port = app.port(), "Wharf is listening");
    println!("Wharf is ready at {base}");
    app.run_until_stopped().await.map_err(CliError::Serve)
}

/// `wharf blueprint import-compose --publish`: the draft published, and a catalog item made of it.
async fn publish_import(settings: &Settings, draft: &blueprints::ComposeDraft) -> Result<(), CliError> {
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db).await?;
    let sealer = open_sealer(settings, &db).await?;
    let ctx = crate::services::Context::new(db, crate::signals::Signals::default(), sealer);
    let published = blueprints::publish(&ctx.db, audit::CLI, &draft.source).await?;
    let (bp, _) = blueprints::load(&ctx, &published.id, Some(published.version)).await?;
    println!("published blueprint {} version {}", published.id, published.version);
    let item =
        crate::services::catalog::ItemInput::for_blueprint(&published.id, &bp.name, &bp.description, &bp.category, Some(published.version));
    match crate::services::catalog::create_item(&ctx, audit::CLI, item).await {
        Ok(i) => println!("made catalog item {} (no group is entitled to it yet: add an entitlement to let one request it)", i.id),
        Err(ServiceError::Conflict(m)) => println!("{m}: left as it is"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// `wharf blueprint import-compose`: the draft, with its notes (and errors) on standard error as
/// file:line:column. Needs no database.
fn convert_compose(file: &std::path::Path, id: Option<&str>) -> Result<blueprints::ComposeDraft, CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("compose.yaml");
    match blueprints::import_compose(&text, id, name) {
        Ok(draft) => {
            for n in &draft.notes {
                eprintln!("{}:{}:{}: note: {}", file.display(), n.line, n.column, n.message);
            }
            Ok(draft)
        }
        Err(ServiceError::Blueprint(errors)) => {
            for e in &errors {
                if e.line > 0 {
                    eprintln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
                } else {
                    eprintln!("{}: {}", file.display(), e.message);
                }
            }
            Err(CliError::Reported(format!("{} construct(s) of {} cannot become a blueprint", errors.len(), file.display())))
        }
        Err(e) => Err(e.into()),
    }
}

async fn registry_command(settings: &Settings, cmd: RegistryCommand) -> Result<(), CliError> {
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db).await?;
    let sealer = open_sealer(settings, &db).await?;
    let ctx = crate::services::Context::new(db, crate::signals::Signals::default(), sealer);
    match cmd {
        RegistryCommand::Add { address, username, password_stdin, ca } => {
            let password = if password_stdin { Some(read_password_stdin()?) } else { None };
            let ca_pem = match ca {
                Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| CliError::Input(format!("cannot read {}: {e}", p.display())))?),
                None => None,
            };
            let r = registries::create(&ctx, audit::CLI, registries::RegistryInput { address, username, password, ca_pem }).await?;
            println!(
                "registered registry {} ({}){}",
                r.address,
                r.username.as_deref().map_or("anonymous".to_string(), |u| format!("as {u}")),
                if r.ca_pem.is_some() { " with its CA certificate" } else { "" }
            );
        }
        RegistryCommand::List => {
            let list = registries::list(&ctx).await?;
            if list.is_empty() {
                println!("no registry is registered");
                return Ok(());
            }
            println!("{:<6} {:<40} {:<24} {:<9} CA", "ID", "ADDRESS", "USERNAME", "PASSWORD");
            for r in list {
                println!(
                    "{:<6} {:<40} {:<24} {:<9} {}",
                    r.id,
                    r.address,
                    r.username.as_deref().unwrap_or("-"),
                    if r.has_password { "held" } else { "-" },
                    if r.ca_pem.is_some() { "own" } else { "-" }
                );
            }
        }
        RegistryCommand::Remove { address } => {
            let wanted =
                crate::domain::registry::RegistryAddress::parse(&address).map_err(|e| CliError::Input(format!("`{address}`: {e}")))?;
            let r = registries::list(&ctx)
                .await?
                .into_iter()
                .find(|r| r.address == wanted.as_str())
                .ok_or_else(|| ServiceError::NotFound(format!("no registry {wanted} is registered")))?;
            registries::remove(&ctx, audit::CLI, r.id).await?;
            println!("removed registry {}", r.address);
        }
    }
    Ok(())
}

async fn host_command(settings: &Settings, cmd: HostCommand) -> Result<(), CliError> {
    let db = store::connect(&settings.database_url).await?;
    store::migrate(&db).await?;
    let sealer = open_sealer(settings, &db).await?;
    match cmd {
        HostCommand::Add {
            name,
            endpoint,
            labels,
            max_containers,
            publish_address,
            bind_address,
            host_ports,
            kind,
            tls_ca,
            tls_cert,
            tls_key,
        } => {
            let mut map = std::collections::BTreeMap::new();
            for l in labels {
                let (k, v) =
                    crate::domain::pairs::parse_one(&l).ok_or_else(|| CliError::Input(format!("--label `{l}`: expected KEY=VALUE")))?;
                map.insert(k, v);
            }
            let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| CliError::Input(format!("cannot read {}: {e}", p.display())));
            let tls = match (tls_ca, tls_cert, tls_key) {
                (Some(ca), Some(cert), Some(key)) => {
                    Some(crate::docker::TlsMaterial { ca_pem: read(&ca)?, cert_pem: read(&cert)?, key_pem: read(&key)? })
                }
                _ => None,
            };
            let input =
                hosts::HostInput { name, endpoint, tls, labels: map, max_containers, publish_address, bind_address, host_ports, kind };
            let h = hosts::register(
                &db,
                audit::CLI,
                input,
                hosts::Registration { check_connection: true, allow_insecure_tcp: settings.hosts.allow_insecure_tcp, sealer: &sealer },
            )
            .await?;
            if h.insecure {
                eprintln!("warning: {} is a plain tcp:// endpoint without TLS: anyone who can reach it controls the engine", h.endpoint);
            }
            println!("registered host {} ({}): engine {}", h.name, h.endpoint, h.engine.version.as_deref().unwrap_or("not known yet"));
        }
        HostCommand::List => {
            let list = hosts::list(&db).await?;
            if list.is_empty() {
                println!("no host is registered");
            }
            println!("{:<16} {:<8} {:<40} {:<10} {:>10}  labels", "NAME", "STATUS", "ENDPOINT", "ENGINE", "CONTAINERS");
            for h in list {
                let labels: Vec<String> = h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<16} {:<8} {:<40} {:<10} {:>10}  {}",
                    h.name,
                    h.status,
                    if h.insecure { format!("{} (insecure: no TLS)", h.endpoint) } else { h.endpoint.clone() },
                    h.engine.version.as_deref().unwrap_or("-"),
                    h.containers,
                    labels.join(",")
                );
            }
        }
        HostCommand::Remove { name, force } => {
            let pool = crate::engine::pool::HostPool::new(sealer);
            hosts::remove(&db, &pool, audit::CLI, &name, force).await?;
            println!("removed host {name}");
        }
    }
    Ok(())
}
