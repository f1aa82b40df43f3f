//! Printing a report: readable text, or one JSON object (`--json`).

use serde_json::{json, Value};

use crate::run::Report;

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "model {} (bug: {})\n",
        report.model,
        report.bug.as_deref().unwrap_or("none")
    ));
    let per_minute = report.states as f64 / report.seconds.max(1e-9) * 60.0;
    out.push_str(&format!(
        "states explored {}, unique {}, max depth {}, {:.2} s ({:.0} states/min), {}\n",
        report.states,
        report.unique_states,
        report.max_depth,
        report.seconds,
        per_minute,
        if report.complete {
            "complete"
        } else {
            "INCOMPLETE (stopped early)"
        }
    ));
    for p in &report.properties {
        let verdict = match (p.kind, p.holds) {
            ("sometimes", true) => format!(
                "reached ({} steps)",
                p.example_len.map_or("?".into(), |n| n.to_string())
            ),
            ("sometimes", false) => "NEVER REACHED".to_string(),
            (_, true) => "holds".to_string(),
            (_, false) => "FAILS".to_string(),
        };
        out.push_str(&format!("  {:<9} {:<45} {}\n", p.kind, p.name, verdict));
    }
    for p in &report.properties {
        if let Some(steps) = &p.counterexample {
            out.push_str(&format!(
                "\ncounterexample to \"{}\" ({} steps):\n",
                p.name,
                steps.len() - 1
            ));
            for step in steps {
                out.push_str(&format!("  {step}\n"));
            }
        }
    }
    out
}

pub fn json(report: &Report) -> Value {
    json!({
        "model": report.model,
        "bug": report.bug,
        "states": report.states,
        "unique_states": report.unique_states,
        "max_depth": report.max_depth,
        "seconds": report.seconds,
        "complete": report.complete,
        "properties": report.properties.iter().map(|p| json!({
            "name": p.name,
            "kind": p.kind,
            "holds": p.holds,
            "counterexample": p.counterexample,
        })).collect::<Vec<_>>(),
    })
}
