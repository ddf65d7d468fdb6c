//! systemd generator: `/usr/lib/systemd/system-generators/datavol-generator`
//! (systemd/generator.rs).
fn main() -> std::process::ExitCode {
    datavol::systemd::generator::main()
}
