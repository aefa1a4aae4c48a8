//! The `mneme` command; everything is in the library (`mneme_cli::main_from`).

fn main() -> std::process::ExitCode {
    let code = mneme_cli::main_from(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
