pub fn run(_args: &[String]) -> Result<(), String> {
    Err("demo: not built yet".into())
}
