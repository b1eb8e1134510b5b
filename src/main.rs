//! The `badnet` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    badnet::cli::main()
}
