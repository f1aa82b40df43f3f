//! `cargo run -p odradek-model --release -- <command>`: see `cli.rs`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match odradek_model::cli::main_with(std::env::args().skip(1).collect()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
