//! Builds the application: database, migrations, state, routes, listener.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::Data;
use actix_web::{App, HttpServer};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
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
}

pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
}

impl Application {
    /// Connects, migrates, and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let db = store::connect(&settings.database_url).await?;
        store::migrate(&db).await?;
        Self::build_with_db(settings, db).await
    }

    pub async fn build_with_db(settings: Settings, db: DatabaseConnection) -> Result<Self, StartError> {
        let cookie_key = auth::sessions::signing_key(&db).await.map_err(StartError::Key)?;
        let listener = TcpListener::bind(settings.bind)
            .map_err(|source| StartError::Bind { addr: settings.bind.to_string(), source })?;
        let port = listener.local_addr().map_err(|source| StartError::Bind { addr: settings.bind.to_string(), source })?.port();
        let workers = settings.workers;
        let state = Data::new(AppState { db: db.clone(), settings: Arc::new(settings), cookie_key });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(routes::routes)
                .wrap(from_fn(routes::middleware::authenticate))
                .wrap(from_fn(routes::error::shape_errors))
                .wrap(from_fn(routes::middleware::request_id_header))
                .wrap(Compress::default())
                .wrap(TracingLogger::default())
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| StartError::Bind { addr: "listener".into(), source })?
        .run();
        Ok(Self { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until the process is told to stop (SIGINT / SIGTERM stop it gracefully).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
