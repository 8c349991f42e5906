//! Charts drawn on the server as SVG (no chart library, no script): the geometry and the words
//! that go with it. A template draws them with the `m::meter` and `m::columns` macros; every
//! chart carries a title for screen readers and its numbers as text beside it or in a table.
use chrono::{DateTime, NaiveDate, Utc};

/// How full something is: a bar from 0 to its limit, and the numbers as text.
#[derive(Debug, Clone)]
pub struct Meter {
    /// The numbers, as shown beside the bar ("3 of 10").
    pub text: String,
    /// The bar's length in % of the track, when there is a limit to measure against.
    pub percent: Option<String>,
    /// `ok` below 75 %, `warn` below 90 %, else `bad` (the badge tones' colours).
    pub tone: &'static str,
    /// What the bar says, for screen readers ("memory: 512 of 1,024 MB, 50 %").
    pub label: String,
}

impl Meter {
    /// `used` of `max` (`None`: no limit), in `unit` (empty for a count).
    pub fn new(what: &str, used: f64, max: Option<f64>, unit: &str) -> Self {
        let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
        match max {
            Some(max) => {
                let share = if max > 0.0 {
                    used / max
                } else if used > 0.0 {
                    1.0
                } else {
                    0.0
                };
                let tone = if share >= 0.9 {
                    "bad"
                } else if share >= 0.75 {
                    "warn"
                } else {
                    "ok"
                };
                let text = format!("{} of {}{unit}", number(used), number(max));
                let pct = (share * 100.0).round();
                Meter {
                    label: format!("{what}: {text}, {pct} %"),
                    percent: Some(format!("{:.1}", (share * 100.0).clamp(0.0, 100.0))),
                    tone,
                    text,
                }
            }
            None => {
                let text = format!("{}{unit} (no limit)", number(used));
                Meter { label: format!("{what}: {text}"), percent: None, tone: "ok", text }
            }
        }
    }
}

/// A number for people: whole numbers without decimals, others with at most two; thousands
/// grouped with commas.
pub fn number(x: f64) -> String {
    if x.fract().abs() < 1e-9 && x.abs() < 1e15 {
        let whole = format!("{}", x.abs() as u64);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One column of a `Columns` chart, in the chart's own units (a 300 × 100 box).
#[derive(Debug, Clone)]
pub struct Column {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// Its day and value, for the column's tooltip and the table.
    pub day: String,
    pub value: u64,
}

/// Counts per day as columns, with what a screen reader is told of them.
#[derive(Debug, Clone)]
pub struct Columns {
    pub title: String,
    /// One sentence: total, busiest day, range.
    pub summary: String,
    pub columns: Vec<Column>,
    pub max: u64,
    pub first: String,
    pub last: String,
}

/// The chart's box: 300 wide, 100 high (stretched to its place by the page).
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 100.0;

impl Columns {
    pub fn per_day(title: &str, what: &str, days: &[(NaiveDate, u64)]) -> Self {
        let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let total: u64 = days.iter().map(|(_, n)| *n).sum();
        let slot = WIDTH / days.len().max(1) as f64;
        let columns = days
            .iter()
            .enumerate()
            .map(|(i, (day, n))| {
                let h = if max == 0 { 0.0 } else { (*n as f64 / max as f64) * (HEIGHT - 2.0) };
                // A day with something shows at least a sliver.
                let h = if *n > 0 { h.max(1.5) } else { 0.0 };
                Column {
                    x: format!("{:.2}", i as f64 * slot + slot * 0.1),
                    y: format!("{:.2}", HEIGHT - h),
                    width: format!("{:.2}", slot * 0.8),
                    height: format!("{h:.2}"),
                    day: day.format("%b %-d").to_string(),
                    value: *n,
                }
            })
            .collect::<Vec<_>>();
        let first = days.first().map(|(d, _)| d.format("%b %-d").to_string()).unwrap_or_default();
        let last = days.last().map(|(d, _)| d.format("%b %-d").to_string()).unwrap_or_default();
        let summary = match days.iter().max_by_key(|(_, n)| *n) {
            Some((day, n)) if *n > 0 => format!(
                "{} {what} from {first} to {last}; the busiest day was {} with {}.",
                number(total as f64),
                day.format("%b %-d"),
                number(*n as f64)
            ),
            _ => format!("No {what} from {first} to {last}."),
        };
        Columns { title: title.to_string(), summary, columns, max, first, last }
    }
}

/// Time left until `ends`, for people ("5 days left", "3 h left", "ended 2 days ago"), and the
/// tone of its badge: `warn` within two days, `bad` once ended.
pub fn time_left(now: DateTime<Utc>, ends: Option<DateTime<Utc>>) -> (String, &'static str) {
    let Some(ends) = ends else {
        return ("no lease".into(), "idle");
    };
    let left = ends - now;
    let plural = |n: i64, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    if left.num_seconds() <= 0 {
        let ago = now - ends;
        let said = if ago.num_days() >= 1 {
            plural(ago.num_days(), "day", "days")
        } else if ago.num_hours() >= 1 {
            plural(ago.num_hours(), "hour", "hours")
        } else {
            plural(ago.num_minutes().max(1), "minute", "minutes")
        };
        return (format!("ended {said} ago"), "bad");
    }
    let tone = if left.num_hours() < 48 { "warn" } else { "ok" };
    let said = if left.num_days() >= 2 {
        plural(left.num_days(), "day", "days")
    } else if left.num_hours() >= 1 {
        plural(left.num_hours(), "hour", "hours")
    } else {
        plural(left.num_minutes().max(1), "minute", "minutes")
    };
    (format!("{said} left"), tone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_say_their_numbers_and_turn_red_when_nearly_full() {
        let m = Meter::new("memory", 512.0, Some(1024.0), "MB");
        assert_eq!((m.text.as_str(), m.percent.as_deref(), m.tone), ("512 of 1,024 MB", Some("50.0"), "ok"));
        assert_eq!(m.label, "memory: 512 of 1,024 MB, 50 %");
        assert_eq!(Meter::new("c", 8.0, Some(10.0), "").tone, "warn");
        let over = Meter::new("c", 12.0, Some(10.0), "");
        assert_eq!((over.tone, over.percent.as_deref()), ("bad", Some("100.0")));
        assert_eq!(Meter::new("c", 1.0, Some(0.0), "").tone, "bad");
        let free = Meter::new("CPUs", 1.5, None, "");
        assert_eq!((free.text.as_str(), free.percent), ("1.5 (no limit)", None));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(-1000.0), "-1,000");
    }

    #[test]
    fn columns_scale_to_the_busiest_day_and_say_so() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let days = [(d("2026-11-30"), 0), (d("2026-12-01"), 4), (d("2026-12-02"), 2)];
        let c = Columns::per_day("Requests", "requests", &days);
        assert_eq!(c.max, 4);
        assert_eq!(c.columns.len(), 3);
        assert_eq!((c.columns[0].height.as_str(), c.columns[1].height.as_str(), c.columns[2].height.as_str()), ("0.00", "98.00", "49.00"));
        assert_eq!(c.columns[1].y, "2.00");
        assert_eq!(c.summary, "6 requests from Nov 30 to Dec 2; the busiest day was Dec 1 with 4.");
        let quiet = Columns::per_day("Requests", "requests", &[(d("2026-12-02"), 0)]);
        assert_eq!(quiet.summary, "No requests from Dec 2 to Dec 2.");
    }

    #[test]
    fn time_left_is_said_in_the_largest_unit() {
        let now = "2026-12-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(time_left(now, None), ("no lease".into(), "idle"));
        assert_eq!(time_left(now, at("2026-12-09T10:00:00Z")), ("7 days left".into(), "ok"));
        assert_eq!(time_left(now, at("2026-12-03T09:00:00Z")), ("23 hours left".into(), "warn"));
        assert_eq!(time_left(now, at("2026-12-02T10:00:30Z")), ("1 minute left".into(), "warn"));
        assert_eq!(time_left(now, at("2026-11-30T10:00:00Z")), ("ended 2 days ago".into(), "bad"));
        assert_eq!(time_left(now, at("2026-12-02T09:40:00Z")), ("ended 20 minutes ago".into(), "bad"));
    }
}
