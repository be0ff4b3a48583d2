//! `tinnhiem-node`: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    tinnhiem_node::main()
}
