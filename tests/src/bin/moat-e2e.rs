fn main() -> std::process::ExitCode {
    moat::main()
}
