//! Times for people: RFC 3339 in UTC and how long ago. The records keep
//! epoch seconds; only what is shown is converted.

use serde_json::Value;

/// `2026-11-30T07:31:12Z`.
pub fn rfc3339(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    let (y, m, d) = date_of(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// algorithm: whole 400-year eras, then years of a March-based calendar so
/// that the leap day comes last).
fn date_of(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// "3 days ago", "just now", or "in 2 minutes" for a clock that went back.
pub fn ago(then: u64, now: u64) -> String {
    let (span, future) = if then > now {
        (then - now, true)
    } else {
        (now - then, false)
    };
    if span < 1 {
        return "just now".into();
    }
    let (n, unit) = [
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ]
    .into_iter()
    .find(|(s, _)| span >= *s)
    .map_or((span, "second"), |(s, u)| (span / s, u));
    let plural = if n == 1 { "" } else { "s" };
    if future {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// "2026-11-30T07:31:12Z, 3 days ago".
pub fn describe(then: u64, now: u64) -> String {
    format!("{}, {}", rfc3339(then), ago(then, now))
}

/// Next to every `*_at` (or `at`) number of epoch seconds in `v`, at any
/// depth, an `*_at_rfc3339` string: the JSON keeps what scripts compare and
/// gains what people read.
pub fn add_rfc3339(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let add: Vec<(String, String)> = map
                .iter()
                .filter(|(k, _)| k.ends_with("_at") || *k == "at")
                .filter_map(|(k, v)| v.as_u64().map(|t| (format!("{k}_rfc3339"), rfc3339(t))))
                .collect();
            map.values_mut().for_each(add_rfc3339);
            map.extend(add.into_iter().map(|(k, s)| (k, Value::String(s))));
        }
        Value::Array(items) => items.iter_mut().for_each(add_rfc3339),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        for (epoch, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_164_799, "2024-02-28T23:59:59Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (1_709_251_200, "2024-03-01T00:00:00Z"),
            (1_735_689_599, "2024-12-31T23:59:59Z"),
            (1_796_023_872, "2026-11-30T07:31:12Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(epoch), want, "{epoch}");
        }
    }

    /// Every day for 500 years against a plain day-by-day count.
    #[test]
    fn dates_agree_with_counting_days() {
        let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..(500 * 366) {
            assert_eq!(date_of(days), (y, m, d), "day {days}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn how_long_ago() {
        let now = 1_000_000;
        for (then, want) in [
            (now, "just now"),
            (now - 1, "1 second ago"),
            (now - 59, "59 seconds ago"),
            (now - 60, "1 minute ago"),
            (now - 7199, "1 hour ago"),
            (now - 7200, "2 hours ago"),
            (now - 86_400 * 3 - 5, "3 days ago"),
            (now + 120, "in 2 minutes"),
        ] {
            assert_eq!(ago(then, now), want, "{then}");
        }
        assert_eq!(
            describe(1_796_023_872, 1_796_023_872 + 3 * 86_400),
            "2026-11-30T07:31:12Z, 3 days ago"
        );
    }

    #[test]
    fn json_gains_rfc3339_next_to_epoch_seconds() {
        let mut v = serde_json::json!({
            "volumes": [{"migration": {"committed_at": 1_796_023_872u64, "started_at": null}}],
            "finished_at": 0,
            "format": 5,
            "last_grow": {"at": 951_782_400u64},
        });
        add_rfc3339(&mut v);
        let m = &v["volumes"][0]["migration"];
        assert_eq!(m["committed_at"], 1_796_023_872u64);
        assert_eq!(m["committed_at_rfc3339"], "2026-11-30T07:31:12Z");
        assert!(m.get("started_at_rfc3339").is_none(), "{v}");
        assert_eq!(v["finished_at_rfc3339"], "1970-01-01T00:00:00Z");
        assert!(v.get("format_rfc3339").is_none(), "{v}");
        assert_eq!(v["last_grow"]["at_rfc3339"], "2000-02-29T00:00:00Z");
    }
}
