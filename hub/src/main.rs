fn main() -> std::process::ExitCode {
    tinnhiem_hub::main()
}
