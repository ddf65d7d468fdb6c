pub fn run(_args: &[String]) -> Result<(), String> {
    Err("vm: not built yet".into())
}
