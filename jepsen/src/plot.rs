//! The run's plots as one self-contained HTML page (inline SVG, no script):
//! send latency, throughput, unseen records and real-time consumer lag over
//! time, each with the nemesis's fault windows shaded.
//!
//! - **latency**: every send's completion time against its latency (log
//!   scale), by outcome (ok, info, fail);
//! - **throughput**: acknowledged sends and records read per second;
//! - **unseen**: acknowledged records no consumer has read yet, each second;
//! - **real-time lag**: for each poll and partition it read, how long the
//!   oldest acknowledged record past what it read has been waiting (0 when
//!   the consumer is caught up).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::history::{Op, OpFn, OpType};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_BOTTOM: f64 = 30.0;
const MARGIN_TOP: f64 = 10.0;

/// A fault window, in seconds since the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub fault: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// Pairs every nemesis start with its end (a start never ended runs to the
/// end of the history).
pub fn fault_windows(ops: &[Op]) -> Vec<Window> {
    let end_s = ops.last().map_or(0.0, |op| seconds(op.time_ns));
    let mut open: Vec<(String, f64)> = Vec::new();
    let mut windows = Vec::new();
    for op in ops.iter().filter(|op| op.f == OpFn::Nemesis) {
        let fault = op.fault.clone().unwrap_or_default();
        match op.phase.as_deref() {
            Some("start") => open.push((fault, seconds(op.time_ns))),
            Some("end") => {
                if let Some(index) = open.iter().position(|(f, _)| *f == fault) {
                    let (fault, start_s) = open.remove(index);
                    windows.push(Window {
                        fault,
                        start_s,
                        end_s: seconds(op.time_ns),
                    });
                }
            }
            _ => {}
        }
    }
    windows.extend(open.into_iter().map(|(fault, start_s)| Window {
        fault,
        start_s,
        end_s,
    }));
    windows
}

fn seconds(time_ns: u64) -> f64 {
    time_ns as f64 / 1e9
}

/// One series: points (x seconds, y), drawn as dots or a line.
struct Series {
    name: &'static str,
    color: &'static str,
    points: Vec<(f64, f64)>,
    line: bool,
}

/// The whole page.
pub fn html(ops: &[Op], title: &str, verdict_json: &str) -> String {
    let windows = fault_windows(ops);
    let x_max = ops.last().map_or(1.0, |op| seconds(op.time_ns)).max(1.0);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:20px}}pre{{background:#f4f4f4;padding:8px;white-space:pre-wrap}}</style>\
         </head><body><h1>{title}</h1>{}",
        legend()
    );
    let (latency, throughput, unseen, lag) = series(ops);
    page.push_str(&chart(
        "Send latency (ms, log scale)",
        &latency,
        &windows,
        x_max,
        true,
    ));
    page.push_str(&chart(
        "Throughput (per second)",
        &throughput,
        &windows,
        x_max,
        false,
    ));
    page.push_str(&chart(
        "Unseen acknowledged records",
        &unseen,
        &windows,
        x_max,
        false,
    ));
    page.push_str(&chart(
        "Real-time consumer lag (s)",
        &lag,
        &windows,
        x_max,
        false,
    ));
    let _ = write!(
        page,
        "<h2>Verdict</h2><pre>{}</pre></body></html>",
        escape(verdict_json)
    );
    page
}

fn series(ops: &[Op]) -> (Vec<Series>, Vec<Series>, Vec<Series>, Vec<Series>) {
    let mut invoked: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut ok, mut info, mut fail) = (Vec::new(), Vec::new(), Vec::new());
    // value -> (ack time, partition, offset)
    let mut acked: BTreeMap<&str, (f64, i32, i64)> = BTreeMap::new();
    let mut first_read: BTreeMap<&str, f64> = BTreeMap::new();
    let seconds_total = ops
        .last()
        .map_or(0, |op| (op.time_ns / 1_000_000_000) as usize)
        + 1;
    let mut acks_per_s = vec![0.0; seconds_total];
    let mut reads_per_s = vec![0.0; seconds_total];
    for op in ops {
        let t = seconds(op.time_ns);
        match (op.f, op.kind) {
            (OpFn::Send, OpType::Invoke) => {
                invoked.insert(op.process, op.time_ns);
            }
            (OpFn::Send, kind) => {
                let Some(start) = invoked.remove(&op.process) else {
                    continue;
                };
                let latency_ms = (op.time_ns.saturating_sub(start) as f64 / 1e6).max(0.1);
                match kind {
                    OpType::Ok => {
                        ok.push((t, latency_ms));
                        acks_per_s[t as usize] += 1.0;
                        if let (Some(value), Some(partition), Some(offset)) =
                            (op.value.as_deref(), op.partition, op.offset)
                        {
                            acked.insert(value, (t, partition, offset));
                        }
                    }
                    OpType::Info => info.push((t, latency_ms)),
                    _ => fail.push((t, latency_ms)),
                }
            }
            (OpFn::Poll, OpType::Ok) if !op.final_read => {
                for (_, value) in op.reads.iter().flatten().flat_map(|(_, pairs)| pairs) {
                    reads_per_s[t as usize] += 1.0;
                    first_read.entry(value.as_str()).or_insert(t);
                }
            }
            _ => {}
        }
    }
    // Unseen: +1 when acknowledged, -1 when first read after that.
    let mut delta = vec![0.0; seconds_total + 1];
    for (value, (ack_t, _, _)) in &acked {
        match first_read.get(value) {
            Some(read_t) if *read_t <= *ack_t => {}
            Some(read_t) => {
                delta[*ack_t as usize] += 1.0;
                delta[*read_t as usize] -= 1.0;
            }
            None => delta[*ack_t as usize] += 1.0,
        }
    }
    let mut unseen = Vec::with_capacity(seconds_total);
    let mut running = 0.0;
    for (second, d) in delta.iter().take(seconds_total).enumerate() {
        running += d;
        unseen.push((second as f64, running));
    }
    let per_second = |counts: Vec<f64>| -> Vec<(f64, f64)> {
        counts
            .into_iter()
            .enumerate()
            .map(|(s, c)| (s as f64, c))
            .collect()
    };
    (
        vec![
            Series {
                name: "ok",
                color: "#2a9d2a",
                points: ok,
                line: false,
            },
            Series {
                name: "info",
                color: "#e69500",
                points: info,
                line: false,
            },
            Series {
                name: "fail",
                color: "#d62728",
                points: fail,
                line: false,
            },
        ],
        vec![
            Series {
                name: "acknowledged sends",
                color: "#1f77b4",
                points: per_second(acks_per_s),
                line: true,
            },
            Series {
                name: "records read",
                color: "#9467bd",
                points: per_second(reads_per_s),
                line: true,
            },
        ],
        vec![Series {
            name: "unseen",
            color: "#d62728",
            points: unseen,
            line: true,
        }],
        vec![Series {
            name: "lag",
            color: "#1f77b4",
            points: lag_points(ops, &acked),
            line: false,
        }],
    )
}

/// Per poll and partition read: the age of the oldest acknowledged record
/// beyond the last offset the poll read.
fn lag_points(ops: &[Op], acked: &BTreeMap<&str, (f64, i32, i64)>) -> Vec<(f64, f64)> {
    // Per partition, (offset, ack time) by offset, and the suffix minimum
    // of the ack times.
    let mut by_partition: BTreeMap<i32, Vec<(i64, f64)>> = BTreeMap::new();
    for (ack_t, partition, offset) in acked.values() {
        by_partition
            .entry(*partition)
            .or_default()
            .push((*offset, *ack_t));
    }
    let suffix_min: BTreeMap<i32, (Vec<i64>, Vec<f64>)> = by_partition
        .into_iter()
        .map(|(partition, mut records)| {
            records.sort_by_key(|(offset, _)| *offset);
            let offsets = records.iter().map(|(o, _)| *o).collect();
            let mut mins = vec![f64::INFINITY; records.len()];
            let mut min = f64::INFINITY;
            for (i, (_, t)) in records.iter().enumerate().rev() {
                min = min.min(*t);
                mins[i] = min;
            }
            (partition, (offsets, mins))
        })
        .collect();
    let mut points = Vec::new();
    for op in ops
        .iter()
        .filter(|op| op.f == OpFn::Poll && op.kind == OpType::Ok && !op.final_read)
    {
        let t = seconds(op.time_ns);
        for (partition, pairs) in op.reads.iter().flatten() {
            let Some((last, _)) = pairs.last() else {
                continue;
            };
            let Some((offsets, mins)) = suffix_min.get(partition) else {
                continue;
            };
            let first_after = offsets.partition_point(|o| o <= last);
            let lag = mins
                .get(first_after)
                .filter(|oldest| **oldest <= t)
                .map_or(0.0, |oldest| t - oldest);
            points.push((t, lag));
        }
    }
    points
}

fn fault_color(fault: &str) -> &'static str {
    match fault {
        "kill" => "#ff9896",
        "pause" => "#c5b0d5",
        "partition" => "#ffbb78",
        "clock" => "#aec7e8",
        _ => "#dddddd",
    }
}

fn legend() -> String {
    let mut out = String::from("<p>Fault windows: ");
    for fault in ["kill", "pause", "partition", "clock"] {
        let _ = write!(
            out,
            "<span style=\"background:{};padding:2px 8px;margin-right:6px\">{fault}</span>",
            fault_color(fault)
        );
    }
    out.push_str("</p>");
    out
}

fn chart(title: &str, series: &[Series], windows: &[Window], x_max: f64, log: bool) -> String {
    let transform = |y: f64| if log { y.max(0.1).log10() } else { y };
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| transform(p.1)));
    let (mut y_min, mut y_max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    if !log {
        y_min = y_min.min(0.0);
    }
    if y_max <= y_min {
        y_max = y_min + 1.0;
    }
    let plot_w = WIDTH - MARGIN_LEFT - 10.0;
    let plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let x = |s: f64| MARGIN_LEFT + s / x_max * plot_w;
    let y = |v: f64| MARGIN_TOP + plot_h - (transform(v) - y_min) / (y_max - y_min) * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<h2>{title}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\">"
    );
    for window in windows {
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{MARGIN_TOP}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"{}\" opacity=\"0.5\"><title>{} {:.1}s–{:.1}s</title></rect>",
            x(window.start_s),
            (x(window.end_s) - x(window.start_s)).max(1.0),
            fault_color(&window.fault),
            window.fault,
            window.start_s,
            window.end_s
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{MARGIN_LEFT}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/>\
         <line x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{0}\" stroke=\"black\"/>",
        MARGIN_TOP + plot_h,
        MARGIN_LEFT + plot_w
    );
    for tick in 0..=5 {
        let s = x_max * f64::from(tick) / 5.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{s:.0}s</text>",
            x(s),
            HEIGHT - 10.0
        );
        let v = y_min + (y_max - y_min) * f64::from(tick) / 5.0;
        let label = if log { 10f64.powf(v) } else { v };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            MARGIN_LEFT - 5.0,
            MARGIN_TOP + plot_h - plot_h * f64::from(tick) / 5.0 + 4.0,
            short(label)
        );
    }
    for (index, s) in series.iter().enumerate() {
        if s.line {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
                .collect();
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
                s.color,
                points.join(" ")
            );
        } else {
            for (px, py) in &s.points {
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.5\" fill=\"{}\"/>",
                    x(*px),
                    y(*py),
                    s.color
                );
            }
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{}\">{} ({})</text>",
            MARGIN_LEFT + 10.0 + 170.0 * index as f64,
            MARGIN_TOP + 14.0,
            s.color,
            s.name,
            s.points.len()
        );
    }
    svg.push_str("</svg>");
    svg
}

fn short(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value.abs() >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NEMESIS_PROCESS;

    fn nemesis(time_s: u64, fault: &str, phase: &str) -> Op {
        let mut op = Op::new(
            NEMESIS_PROCESS,
            OpType::Info,
            OpFn::Nemesis,
            time_s * 1_000_000_000,
        );
        op.fault = Some(fault.into());
        op.phase = Some(phase.into());
        op
    }

    #[test]
    fn overlapping_faults_make_one_window_each() {
        let ops = vec![
            nemesis(1, "kill", "start"),
            nemesis(2, "partition", "start"),
            nemesis(3, "partition", "end"),
            nemesis(4, "kill", "end"),
            nemesis(5, "pause", "start"),
        ];
        let windows = fault_windows(&ops);
        assert_eq!(windows.len(), 3);
        assert_eq!(
            (
                windows[0].fault.as_str(),
                windows[0].start_s,
                windows[0].end_s
            ),
            ("partition", 2.0, 3.0)
        );
        assert_eq!(
            (
                windows[1].fault.as_str(),
                windows[1].start_s,
                windows[1].end_s
            ),
            ("kill", 1.0, 4.0)
        );
        // Never ended: runs to the end of the history.
        assert_eq!((windows[2].start_s, windows[2].end_s), (5.0, 5.0));
    }

    #[test]
    fn a_record_acknowledged_and_not_read_counts_as_unseen_and_lags() {
        let mut ops = Vec::new();
        let mut send = Op::new(0, OpType::Invoke, OpFn::Send, 0);
        send.partition = Some(0);
        send.value = Some("a".into());
        ops.push(send.clone());
        send.kind = OpType::Ok;
        send.time_ns = 1_000_000_000;
        send.offset = Some(0);
        ops.push(send);
        let mut poll = Op::new(1, OpType::Ok, OpFn::Poll, 4_000_000_000);
        poll.reads = Some(BTreeMap::from([(0, vec![(-1, "x".to_string())])]));
        ops.push(poll);
        let (_, _, unseen, lag) = series(&ops);
        assert_eq!(unseen[0].points.last().unwrap().1, 1.0);
        assert_eq!(lag[0].points, vec![(4.0, 3.0)]);
        let page = html(&ops, "t", "{}");
        assert!(page.contains("<svg") && page.contains("Unseen"));
    }
}
