fn main() -> std::process::ExitCode {
    datavol::cli::main()
}
