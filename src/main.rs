/// jemalloc keeps freed memory for reuse (returning it to the OS after a
/// few seconds idle), where glibc's allocator unmaps every large request
/// buffer on free and faults fresh zeroed pages in for the next one.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(runnel::cli::main());
}
