//! Builds the application: database, migrations, state, routes, listener.
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::Data;
use actix_web::{App, HttpServer};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::engine::Engine;
use crate::services::{Context, audit, blueprints, hosts, requests};
use crate::signals::Signals;
use crate::tasks::supervise;
use crate::web::{self as routes, AppState};
use crate::{auth, store};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot read or create the cookie signing key: {0}")]
    Key(sea_orm::DbErr),
    #[error(transparent)]
    Seal(#[from] crate::sealing::SealError),
    #[error(transparent)]
    KeyCheck(#[from] store::sealed::KeyCheckError),
    #[error("cannot read or create the installation id: {0}")]
    Instance(sea_orm::DbErr),
    #[error(transparent)]
    Oidc(#[from] crate::auth::oidc::OidcError),
    #[error("cannot set up e-mail: {0}")]
    Mail(String),
}

/// The application, wired: its state, routes and listener. `build` starts nothing in the
/// background; `start_background` (called by `run_until_stopped`) starts the engine's workers,
/// host checks, inventory and the request scheduler.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    engine: Engine,
    ctx: Context,
    grace_secs: u32,
    /// Set on SIGTERM (`/readyz` answers 503), and for how long before the server stops.
    drain: (Arc<std::sync::atomic::AtomicBool>, u32),
    /// Audit retention (days) and the login window (minutes), for housekeeping.
    keeping: (u32, u32),
    /// This process, as the replicas table knows it.
    me: store::replicas::Me,
    lease: crate::config::LeaseSettings,
    notify: crate::config::NotifySettings,
    mailer: Option<crate::services::notify::mail::Mailer>,
}

impl Application {
    /// Connects, migrates, and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let db = store::connect(&settings.database_url).await?;
        store::migrate(&db).await?;
        Self::build_with_db(settings, db).await
    }

    pub async fn build_with_db(settings: Settings, db: DatabaseConnection) -> Result<Self, StartError> {
        let sealer = crate::sealing::Sealer::load_or_create(&settings.secret_key_file)?;
        store::sealed::check_key(&db, &sealer).await?;
        store::sealed::seal_legacy(&db, &sealer).await.map_err(StartError::Key)?;
        let cookie_key = auth::sessions::signing_key(&db, &sealer).await.map_err(StartError::Key)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind { addr: settings.bind.to_string(), source })?;
        let port = listener.local_addr().map_err(|source| StartError::Bind { addr: settings.bind.to_string(), source })?.port();
        let workers = settings.workers;
        let base = settings
            .base_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{}", std::net::SocketAddr::new(settings.bind.ip(), port)));
        let mailer = match &settings.smtp {
            None => {
                tracing::info!("e-mail is off: no smtp.url is set (notifications stay in the portal and webhooks)");
                None
            }
            Some(smtp) => {
                if settings.base_url.is_none() {
                    tracing::warn!(links = %base, "base_url is not set: links in mail use the address Wharf listens on and may not reach people");
                }
                let url = url::Url::parse(&base).map_err(|e| StartError::Mail(format!("the links' base `{base}`: {e}")))?;
                let timeout =
                    crate::services::notify::sender::delivery_limit(settings.notify.lease_secs, crate::services::notify::mail::TIMEOUT);
                let mailer = crate::services::notify::mail::Mailer::new(smtp, url, timeout).map_err(StartError::Mail)?;
                tracing::info!(server = %smtp.host, port = smtp.port, "e-mail is on");
                Some(mailer)
            }
        };
        let oidc = match settings.oidc.issuer {
            Some(_) => {
                let redirect = format!("{base}/auth/oidc/callback");
                Some(Arc::new(crate::auth::oidc::Oidc::discover(&settings.oidc, &redirect).await?))
            }
            None => None,
        };
        import_catalog(&db, &settings.catalog_dir).await;
        if settings.hosts.register_local {
            register_local_host(&db, &settings.hosts.local_socket, &sealer).await;
        }
        let grace_secs = settings.engine.shutdown_grace_secs;
        let keeping = (settings.audit.retention_days, settings.login.lockout_minutes);
        let lease = settings.lease.clone();
        let notify = settings.notify.clone();
        let signals = Signals::default();
        let metrics = crate::metrics::Metrics::default();
        let instance = store::instance_id(&db).await.map_err(StartError::Instance)?;
        let defaults = settings.limits.defaults();
        let q = settings.default_quota;
        let default_quota =
            crate::domain::quota::Limits { max_containers: q.max_containers, max_memory_mb: q.max_memory_mb, max_cpus: q.max_cpus };
        let engine = Engine::new(
            db.clone(),
            instance,
            signals.clone(),
            crate::config::EngineSettings { notify_managers: settings.notify.lease_managers, ..settings.engine.clone() },
            settings.hosts.clone(),
            sealer.clone(),
            defaults.clone(),
        )
        .with_metrics(metrics.clone());
        let ctx = Context::new(db.clone(), signals, sealer).with_limits(defaults, default_quota);
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let drain_secs = settings.drain_secs;
        let state = Data::new(AppState {
            ctx: ctx.clone(),
            settings: Arc::new(settings),
            cookie_key,
            engine: engine.clone(),
            oidc,
            metrics,
            draining: draining.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(routes::routes)
                .wrap(from_fn(routes::middleware::authenticate))
                .wrap(from_fn(routes::error::shape_errors))
                .wrap(from_fn(routes::middleware::request_id_header))
                .wrap(from_fn(routes::middleware::security_headers))
                .wrap(from_fn(routes::middleware::head_as_get))
                .wrap(from_fn(routes::middleware::count_requests))
                .wrap(Compress::default())
                .wrap(TracingLogger::<routes::middleware::AccessLog>::new())
        })
        .workers(workers)
        // SIGINT / SIGTERM are handled in `run_until_stopped`: the engine stops first.
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|source| StartError::Bind { addr: "listener".into(), source })?
        .run();
        Ok(Self {
            port,
            server,
            db,
            engine,
            ctx,
            grace_secs,
            drain: (draining, drain_secs),
            keeping,
            me: store::replicas::Me::new(),
            lease,
            notify,
            mailer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// What the services share in this application.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Starts the background loops: the engine's workers, host health checks and inventory,
    /// and the request scheduler.
    pub fn start_background(&self) {
        // On PostgreSQL, the other replicas hear this one's signals (and it theirs).
        crate::wakeups::start(&self.db, &self.ctx.signals);
        self.engine.start();
        let ctx = self.ctx.clone();
        supervise("request scheduler", move || requests::scheduler::run(ctx.clone()));
        let (feed, db, signals) = (self.ctx.feed.clone(), self.ctx.db.clone(), self.ctx.signals.clone());
        supervise("change feed", move || feed.clone().run(db.clone(), signals.clone(), std::time::Duration::from_millis(300)));
        let ctx = self.ctx.clone();
        let (retention, lockout) = self.keeping;
        let keep_days = self.notify.keep_days;
        supervise("housekeeping", move || crate::services::housekeeping::run(ctx.clone(), retention, lockout, keep_days));
        let (db, me) = (self.db.clone(), self.me.clone());
        supervise("heartbeat", move || heartbeat(db.clone(), me.clone()));
        let (ctx, lease) = (self.ctx.clone(), self.lease.clone());
        let managers = self.notify.lease_managers;
        supervise("leases", move || crate::services::leases::run(ctx.clone(), lease.clone(), managers));
        let (ctx, notify, mailer) = (self.ctx.clone(), self.notify.clone(), self.mailer.clone());
        supervise("notifications", move || crate::services::notify::sender::run(ctx.clone(), notify.clone(), mailer.clone()));
    }

    /// Starts the background loops and serves until the process is told to stop. SIGINT or
    /// SIGTERM stop it gracefully: the engine claims nothing more and its running jobs get
    /// `engine.shutdown_grace_secs` to finish (the rest are given back to the queue at once),
    /// while the HTTP server finishes the requests under way.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.start_background();
        let handle = self.server.handle();
        let engine = self.engine.clone();
        let grace = std::time::Duration::from_secs(u64::from(self.grace_secs));
        let (draining, drain_secs) = self.drain.clone();
        tokio::spawn(async move {
            stop_signal().await;
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(drain_secs, "asked to stop: /readyz says draining; finishing the jobs under way, then the requests");
            let drain = tokio::time::sleep(std::time::Duration::from_secs(u64::from(drain_secs)));
            tokio::select! {
                _ = async { tokio::join!(engine.shutdown(grace), drain) } => handle.stop(true).await,
                // Asked again: no more waiting (running jobs' leases run out for other replicas).
                _ = stop_signal() => {
                    tracing::warn!("asked to stop again: stopping now");
                    handle.stop(false).await;
                }
            }
        });
        let served = self.server.await;
        if let Err(e) = store::replicas::leave(&self.db, &self.me).await {
            tracing::warn!(error = %e, "could not remove this replica from the replicas table (it ages out)");
        }
        served
    }
}

/// Keeps this process in the replicas table while it runs.
async fn heartbeat(db: DatabaseConnection, me: store::replicas::Me) {
    loop {
        if let Err(e) = store::replicas::beat(&db, &me).await {
            tracing::warn!(error = %e, "replica heartbeat");
        }
        tokio::time::sleep(store::replicas::HEARTBEAT).await;
    }
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Imports the catalog folder: new blueprint versions are added; a changed published version
/// or an invalid file is reported, with its file, and changes nothing.
async fn import_catalog(db: &DatabaseConnection, dir: &Path) {
    if !dir.is_dir() {
        tracing::info!(dir = %dir.display(), "no catalog folder to import");
        return;
    }
    match blueprints::import_dir(db, dir).await {
        Err(e) => tracing::error!(dir = %dir.display(), error = %e, "cannot read the catalog folder"),
        Ok(results) => {
            for (file, outcome) in results {
                let file = file.display().to_string();
                match outcome {
                    blueprints::FileOutcome::Published(p) if p.created => {
                        tracing::info!(%file, blueprint = %p.id, version = p.version, "blueprint version imported")
                    }
                    blueprints::FileOutcome::Published(_) => {}
                    blueprints::FileOutcome::Invalid(errs) => {
                        for e in errs {
                            tracing::error!("{file}:{e}");
                        }
                    }
                    blueprints::FileOutcome::Refused(why) => tracing::warn!(%file, "not imported: {why}"),
                }
            }
        }
    }
}

/// With no host registered and a local Docker socket present, registers it as `local`.
async fn register_local_host(db: &DatabaseConnection, socket: &Path, sealer: &crate::sealing::Sealer) {
    if !socket.exists() {
        return;
    }
    match hosts::list(db).await {
        Ok(list) if list.is_empty() => {
            let input = hosts::HostInput { name: "local".into(), endpoint: format!("unix://{}", socket.display()), ..Default::default() };
            match hosts::register(
                db,
                audit::SYSTEM,
                input,
                hosts::Registration { check_connection: false, allow_insecure_tcp: true, sealer },
            )
            .await
            {
                Ok(_) => tracing::info!(socket = %socket.display(), "registered the local Docker engine as host `local`"),
                Err(e) => tracing::warn!(error = %e, "could not register the local Docker engine"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot list hosts"),
    }
}
