fn main() {
    std::process::exit(runnel::cli::main());
}
