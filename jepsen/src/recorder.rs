//! Records a run's history as it happens: each operation goes to memory (for
//! the checker and the plots) and, as one JSON line, to `history.jsonl` in
//! the results folder, so a run that dies still leaves what it did.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use crate::history::{Op, OpFn, OpType};

pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    ops: Vec<Op>,
    file: BufWriter<File>,
    /// The first write error; later writes are skipped, the run goes on
    /// (the in-memory history is still checked).
    error: Option<io::Error>,
}

impl Recorder {
    pub fn create(path: &Path) -> io::Result<Recorder> {
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                ops: Vec::new(),
                file: BufWriter::new(File::create(path)?),
                error: None,
            }),
        })
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// A new operation stamped now; fill it, then [`Recorder::record`] it.
    pub fn op(&self, process: u32, kind: OpType, f: OpFn) -> Op {
        Op::new(process, kind, f, self.now_ns())
    }

    pub fn record(&self, op: Op) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.error.is_none() {
            let written = serde_json::to_writer(&mut inner.file, &op)
                .map_err(io::Error::from)
                .and_then(|()| inner.file.write_all(b"\n"));
            if let Err(error) = written {
                inner.error = Some(error);
            }
        }
        inner.ops.push(op);
    }

    /// Flushes the file and returns every operation recorded.
    pub fn finish(&self) -> io::Result<Vec<Op>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(error) = inner.error.take() {
            return Err(error);
        }
        inner.file.flush()?;
        Ok(inner.ops.clone())
    }
}
