//! A deployment's logs: each container's lines (stdout and stderr, running or stopped), merged in
//! time order, or followed live. Lines come through a small bounded queue: a reader that stops
//! reading holds at most [`QUEUE`] lines here, and is dropped after [`SLOW_READER`] (the engine's
//! stream is not read meanwhile, so nothing piles up in Wharf).
use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Pick, Targets};
use crate::docker::{DockerError, LogOptions, OutputChunk, OutputChunks, OutputStream};
use crate::services::{FieldError, ServiceError, ServiceResult};

pub const DEFAULT_TAIL: u32 = 500;
pub const MAX_TAIL: u32 = 10_000;
/// A longer line is cut here (the engine splits lines at 16 KiB too).
const MAX_LINE: usize = 16 * 1024;
/// Lines waiting for the reader.
const QUEUE: usize = 64;
/// A reader that takes none of the waiting lines for this long is dropped.
const SLOW_READER: Duration = Duration::from_secs(20);

/// What a caller asks for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub pick: Pick,
    /// Lines per container, from the end (default [`DEFAULT_TAIL`], at most [`MAX_TAIL`]).
    pub tail: Option<i64>,
    /// RFC 3339, or a duration back from now (`10m`, `2h`, `30s`, `1d`).
    pub since: Option<String>,
    pub timestamps: bool,
    pub follow: bool,
}

/// A query checked: the tail and the Unix time it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub tail: u32,
    pub since: Option<i64>,
}

/// Checks `tail` and `since` (422 naming the field).
pub fn check(q: &LogQuery, now: DateTime<Utc>) -> ServiceResult<Window> {
    let mut errors = Vec::new();
    let tail = match q.tail {
        None => DEFAULT_TAIL,
        Some(t) if (0..=i64::from(MAX_TAIL)).contains(&t) => t as u32,
        Some(t) => {
            errors.push(FieldError::new("tail", format!("{t}: lines per container, 0 to {MAX_TAIL}")));
            DEFAULT_TAIL
        }
    };
    let since = match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match parse_since(raw, now) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(FieldError::new("since", e));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(Window { tail, since })
}

/// `since` as a Unix time: an RFC 3339 time, or a duration back from `now`.
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp());
    }
    let unit = raw.chars().last().unwrap_or(' ');
    let seconds_per = match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    match (seconds_per, raw[..raw.len() - unit.len_utf8()].parse::<i64>()) {
        (Some(per), Ok(n)) if (0..=3650 * 86_400).contains(&n.saturating_mul(per)) => Ok(now.timestamp() - n * per),
        _ => {
            Err(format!("`{raw}` is neither a time (RFC 3339, as 2026-12-01T10:00:00Z) nor a duration back from now (as 30s, 10m, 2h, 1d)"))
        }
    }
}

/// One line of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `component-N`.
    #[serde(rename = "c")]
    pub container: String,
    #[serde(rename = "s")]
    pub stream: OutputStream,
    /// When it was written (RFC 3339), if the caller asked for timestamps.
    #[serde(rename = "t", skip_serializing_if = "Option::is_none")]
    pub shown_at: Option<String>,
    #[serde(rename = "l")]
    pub text: String,
    #[serde(skip)]
    at: Option<DateTime<FixedOffset>>,
}

impl LogLine {
    /// The line as `text/plain` shows it: `component-N | ` when several containers are merged,
    /// its time when asked for, `[stderr] ` before what a container wrote to stderr.
    pub fn plain(&self, prefixed: bool) -> String {
        let mut out = String::with_capacity(self.text.len() + 48);
        if prefixed {
            out.push_str(&self.container);
            out.push_str(" | ");
        }
        if let Some(t) = &self.shown_at {
            out.push_str(t);
            out.push(' ');
        }
        if self.stream == OutputStream::Stderr {
            out.push_str("[stderr] ");
        }
        out.push_str(&self.text);
        out.push('\n');
        out
    }
}

/// What a reader receives.
#[derive(Debug, Clone)]
pub enum LogItem {
    Line(LogLine),
    /// A container's logs could not be read (gone, host down); the others go on.
    Problem(String),
    /// No more lines: why.
    End(String),
}

/// An open log read: its items, and how to present them.
pub struct LogRead {
    pub items: mpsc::Receiver<LogItem>,
    /// Several containers: lines carry their `component-N | ` prefix.
    pub merged: bool,
    /// A file name for a download: `<deployment>-<component or all>-<time>.log`.
    pub filename: String,
}

/// Starts reading; the reading stops when the returned receiver is dropped.
pub fn read(targets: Targets, q: &LogQuery, window: Window, admin: bool) -> LogRead {
    let merged = targets.containers.len() > 1;
    let what = q.pick.component.as_deref().map(str::trim).filter(|c| !c.is_empty()).unwrap_or("all");
    let filename = format!("{}-{}-{}.log", targets.deployment.name, what, Utc::now().format("%Y%m%dT%H%M%SZ"));
    let (tx, rx) = mpsc::channel(QUEUE);
    let options = LogOptions { tail: Some(window.tail), since: window.since, timestamps: true, follow: q.follow };
    let sources: Vec<Lines> = targets
        .containers
        .iter()
        .map(|t| {
            let chunks =
                if t.service { targets.conn.service_logs(&t.docker_id, &options) } else { targets.conn.logs(&t.docker_id, &options) };
            Lines::new(t.label(), chunks, q.timestamps, admin)
        })
        .collect();
    let follow = q.follow;
    tokio::spawn(async move {
        let end = if follow { follow_all(sources, &tx).await } else { merge_all(sources, &tx).await };
        if let Some(reason) = end {
            give(&tx, LogItem::End(reason)).await;
        }
    });
    LogRead { items: rx, merged, filename }
}

/// Hands an item to the reader; `false` when the reader left or read nothing for too long.
async fn give(tx: &mpsc::Sender<LogItem>, item: LogItem) -> bool {
    match tokio::time::timeout(SLOW_READER, tx.send(item)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("a log reader took nothing for {} s: dropped", SLOW_READER.as_secs());
            false
        }
    }
}

/// Every container's lines, oldest first across containers (each container's are in order: a
/// merge of the heads). `None` when the reader left.
async fn merge_all(mut sources: Vec<Lines>, tx: &mpsc::Sender<LogItem>) -> Option<String> {
    let mut heads: Vec<Option<LogLine>> = Vec::with_capacity(sources.len());
    for s in sources.iter_mut() {
        heads.push(next_line(s, tx).await?);
    }
    loop {
        let oldest = heads.iter().enumerate().filter_map(|(i, h)| h.as_ref().map(|l| (i, l.at))).min_by_key(|(_, at)| *at).map(|(i, _)| i);
        let Some(i) = oldest else { return Some("end of the logs".into()) };
        let line = heads[i].take()?;
        if !give(tx, LogItem::Line(line)).await {
            return None;
        }
        heads[i] = next_line(&mut sources[i], tx).await?;
    }
}

/// The next line of one container; a read error is told to the reader (and ends that
/// container's lines). The outer `None`: the reader left.
async fn next_line(source: &mut Lines, tx: &mpsc::Sender<LogItem>) -> Option<Option<LogLine>> {
    match source.next().await {
        Some(Ok(line)) => Some(Some(line)),
        Some(Err(problem)) => give(tx, LogItem::Problem(problem)).await.then_some(None),
        None => Some(None),
    }
}

/// Every container's lines as they come, until all have stopped. `None` when the reader left.
async fn follow_all(sources: Vec<Lines>, tx: &mpsc::Sender<LogItem>) -> Option<String> {
    let streams =
        sources.into_iter().map(|s| Box::pin(futures_util::stream::unfold(s, |mut s| async move { s.next().await.map(|l| (l, s)) })));
    let mut all = futures_util::stream::select_all(streams);
    loop {
        // A reader that left is noticed at once, not at the next line of a quiet container.
        let item = tokio::select! {
            _ = tx.closed() => return None,
            item = all.next() => item,
        };
        let Some(item) = item else { break };
        let item = match item {
            Ok(line) => LogItem::Line(line),
            Err(problem) => LogItem::Problem(problem),
        };
        if !give(tx, item).await {
            return None;
        }
    }
    Some("the containers stopped".into())
}

/// One container's output cut into lines (each stream keeps its partial line).
struct Lines {
    label: String,
    chunks: OutputChunks,
    /// The partial line of stdout and of stderr, and whether it was cut.
    partial: [(Vec<u8>, bool); 2],
    ready: VecDeque<LogLine>,
    ended: bool,
    /// What went wrong, said after the lines read before it.
    problem: Option<String>,
    timestamps: bool,
    admin: bool,
}

impl Lines {
    fn new(label: String, chunks: OutputChunks, timestamps: bool, admin: bool) -> Self {
        Self { label, chunks, partial: Default::default(), ready: VecDeque::new(), ended: false, problem: None, timestamps, admin }
    }

    /// The next line, or what went wrong reading (said once, as a message).
    async fn next(&mut self) -> Option<Result<LogLine, String>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            if self.ended {
                return self.problem.take().map(Err);
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => self.feed(&chunk),
                Some(Err(e)) => {
                    self.ended = true;
                    self.flush();
                    self.problem = Some(self.problem(&e));
                }
                None => {
                    self.ended = true;
                    self.flush();
                }
            }
        }
    }

    fn problem(&self, e: &DockerError) -> String {
        match e {
            DockerError::NotFound { .. } => format!("{}: the container is gone from its host", self.label),
            other => {
                let text = other.to_string();
                let text = if self.admin { text } else { crate::domain::redact_addresses(&text) };
                format!("{}: its logs could not be read: {text}", self.label)
            }
        }
    }

    fn feed(&mut self, chunk: &OutputChunk) {
        let i = usize::from(chunk.stream == OutputStream::Stderr);
        let mut rest: &[u8] = &chunk.bytes;
        while !rest.is_empty() {
            let (piece, ends) = match rest.iter().position(|b| *b == b'\n') {
                Some(n) => (&rest[..n], Some(n + 1)),
                None => (rest, None),
            };
            let (buf, cut) = &mut self.partial[i];
            let room = MAX_LINE.saturating_sub(buf.len());
            if piece.len() > room {
                *cut = true;
            }
            buf.extend_from_slice(&piece[..piece.len().min(room)]);
            match ends {
                Some(n) => {
                    self.emit(i);
                    rest = &rest[n..];
                }
                None => break,
            }
        }
    }

    /// What is left of partial lines at the end of the stream.
    fn flush(&mut self) {
        for i in 0..2 {
            if !self.partial[i].0.is_empty() {
                self.emit(i);
            }
        }
    }

    fn emit(&mut self, i: usize) {
        let (buf, cut) = std::mem::take(&mut self.partial[i]);
        let text = String::from_utf8_lossy(&buf);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        // The engine puts each line's time first (asked for always: merging needs it).
        let (at, stamp, body) = match text.split_once(' ') {
            Some((t, body)) => match DateTime::parse_from_rfc3339(t) {
                Ok(at) => (Some(at), Some(t.to_string()), body),
                Err(_) => (None, None, text),
            },
            None => match DateTime::parse_from_rfc3339(text) {
                Ok(at) => (Some(at), Some(text.to_string()), ""),
                Err(_) => (None, None, text),
            },
        };
        let mut body = body.to_string();
        if cut {
            body.push_str(" [... cut at 16 KiB]");
        }
        self.ready.push_back(LogLine {
            container: self.label.clone(),
            stream: if i == 1 { OutputStream::Stderr } else { OutputStream::Stdout },
            shown_at: if self.timestamps { stamp } else { None },
            text: body,
            at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn since_is_a_time_or_a_duration_back() {
        let at = now().timestamp();
        assert_eq!(parse_since("10m", now()), Ok(at - 600));
        assert_eq!(parse_since("2h", now()), Ok(at - 7200));
        assert_eq!(parse_since("30s", now()), Ok(at - 30));
        assert_eq!(parse_since("1d", now()), Ok(at - 86_400));
        assert_eq!(parse_since("2026-12-01T11:00:00Z", now()), Ok(at - 3600));
        for bad in ["10", "m", "-5m", "10x", "yesterday", "99999999999d", "é"] {
            assert!(parse_since(bad, now()).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn tail_and_since_are_checked() {
        let q = |tail, since: Option<&str>| LogQuery { tail, since: since.map(str::to_string), ..Default::default() };
        assert_eq!(check(&q(None, None), now()).unwrap(), Window { tail: DEFAULT_TAIL, since: None });
        assert_eq!(check(&q(Some(0), Some("1m")), now()).unwrap().tail, 0);
        let e = check(&q(Some(10_001), Some("soon")), now()).unwrap_err();
        let ServiceError::Invalid(errors) = e else { panic!("{e}") };
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["tail", "since"]);
    }

    fn chunk(stream: OutputStream, text: &str) -> OutputChunk {
        OutputChunk { stream, bytes: bytes::Bytes::from(text.to_string()) }
    }

    #[tokio::test]
    async fn output_is_cut_into_lines_per_stream() {
        let chunks: Vec<Result<OutputChunk, DockerError>> = vec![
            Ok(chunk(OutputStream::Stdout, "2026-12-01T10:00:00.5Z hel")),
            Ok(chunk(OutputStream::Stderr, "2026-12-01T10:00:01Z oops\n")),
            Ok(chunk(OutputStream::Stdout, "lo\r\n2026-12-01T10:00:02Z two\n2026-12-01T10:00:03Z tail")),
            Err(DockerError::NotFound { endpoint: "unix:///x".into(), message: "gone".into() }),
        ];
        let mut lines = Lines::new("web-0".into(), Box::pin(futures_util::stream::iter(chunks)), true, false);
        let mut got = Vec::new();
        while let Some(item) = lines.next().await {
            got.push(match item {
                Ok(l) => l.plain(true),
                Err(e) => format!("problem: {e}\n"),
            });
        }
        assert_eq!(
            got,
            [
                "web-0 | 2026-12-01T10:00:01Z [stderr] oops\n",
                "web-0 | 2026-12-01T10:00:00.5Z hello\n",
                "web-0 | 2026-12-01T10:00:02Z two\n",
                "web-0 | 2026-12-01T10:00:03Z tail\n",
                "problem: web-0: the container is gone from its host\n",
            ]
        );
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_merges_keep_time_order() {
        let long = format!("2026-12-01T10:00:00Z {}\n", "x".repeat(MAX_LINE * 2));
        let a = vec![Ok(chunk(OutputStream::Stdout, &long)), Ok(chunk(OutputStream::Stdout, "2026-12-01T10:00:02Z a2\n"))];
        let b = vec![Ok(chunk(OutputStream::Stdout, "2026-12-01T10:00:01Z b1\n2026-12-01T10:00:03Z b3\n"))];
        let sources = vec![
            Lines::new("a-0".into(), Box::pin(futures_util::stream::iter(a)), false, false),
            Lines::new("b-0".into(), Box::pin(futures_util::stream::iter(b)), false, false),
        ];
        let (tx, mut rx) = mpsc::channel(16);
        assert_eq!(merge_all(sources, &tx).await.as_deref(), Some("end of the logs"));
        drop(tx);
        let mut got = Vec::new();
        while let Some(LogItem::Line(l)) = rx.recv().await {
            got.push((l.container.clone(), l.text.len().min(40), l.text.ends_with("cut at 16 KiB]")));
        }
        assert_eq!(got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), ["a-0", "b-0", "a-0", "b-0"]);
        assert!(got[0].2, "the long line says it was cut");
    }
}
