//! Background loops, supervised: a loop that panics is logged and started again after a pause,
//! so one bad row or one bug in a tick never stops the engine or the scheduler for good.
use std::future::Future;
use std::time::Duration;

/// Runs `make()` as a task, again and again should it panic (or end).
pub fn supervise<F, Fut>(name: &'static str, make: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(make()).await {
                Ok(()) => tracing::warn!(task = name, "background loop ended; starting it again"),
                Err(e) if e.is_panic() => tracing::error!(task = name, "background loop panicked; starting it again"),
                Err(_) => return, // cancelled: the runtime is shutting down
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_loop_that_panics_is_started_again() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        supervise("test", move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                std::future::pending::<()>().await;
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while runs.load(Ordering::SeqCst) < 2 {
            assert!(tokio::time::Instant::now() < deadline, "not restarted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
