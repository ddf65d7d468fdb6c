pub fn run(_args: &[String]) -> Result<(), String> {
    Err("bench: not built yet".into())
}
