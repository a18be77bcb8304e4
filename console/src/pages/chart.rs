//! Charts drawn on the server as SVG (no JavaScript, no build step): messages by verdict, stacked per hour or
//! per day.

use crate::ops::{VERDICT_CLASSES, VerdictBucket};
use maud::{Markup, html};

/// Each verdict class's colour (`ops::VERDICT_CLASSES`).
fn colour(class: &str) -> &'static str {
    match class {
        "clean" => "#2da44e",
        "tagged" => "#bf8700",
        "quarantined" => "#cf222e",
        "rejected" => "#82071e",
        "deferred" => "#8250df",
        "accepted" => "#57606a",
        _ => "#afb8c1",
    }
}

const HEIGHT: f64 = 120.0;
const BAR: f64 = 18.0;
const GAP: f64 = 4.0;

/// Stacked bars, one per bucket, labelled every `label_every` buckets by `label`; a legend of the classes
/// that occur. `t` translates the class names.
pub fn stacked_bars(
    id: &str,
    buckets: &[VerdictBucket],
    label_every: usize,
    label: impl Fn(i64) -> String,
    t: impl Fn(&'static str) -> &'static str,
) -> Markup {
    let total = |b: &VerdictBucket| b.counts.iter().map(|(_, n)| n).sum::<i64>();
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let width = buckets.len() as f64 * (BAR + GAP);
    let present: Vec<&str> = VERDICT_CLASSES
        .into_iter()
        .filter(|class| buckets.iter().any(|b| b.counts.iter().any(|(c, n)| c == class && *n > 0)))
        .collect();
    html! {
        figure.chart-svg id=(id) {
            svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(HEIGHT + 18.0)
                viewBox=(format!("0 0 {width} {}", HEIGHT + 18.0)) role="img" {
                @for (i, bucket) in buckets.iter().enumerate() {
                    @let x = i as f64 * (BAR + GAP);
                    @let mut y = HEIGHT;
                    @for class in VERDICT_CLASSES {
                        @let n = bucket.counts.iter().find(|(c, _)| c == class).map_or(0, |(_, n)| *n);
                        @if n > 0 {
                            @let h = (n as f64 / max * HEIGHT).max(1.0);
                            @let top = { y -= h; y };
                            rect x=(x) y=(format!("{top:.1}")) width=(BAR) height=(format!("{h:.1}")) fill=(colour(class)) {
                                title { (label(bucket.start)) ": " (n) " " (t(class)) }
                            }
                        }
                    }
                    @if i % label_every.max(1) == 0 {
                        text x=(x) y=(HEIGHT + 14.0) font-size="10" fill="#57606a" { (label(bucket.start)) }
                    }
                }
            }
            figcaption {
                @for class in present {
                    span.legend { span.swatch style=(format!("background:{}", colour(class))) {} " " (t(class)) } " "
                }
            }
        }
    }
}
