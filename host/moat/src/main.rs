// The mail path allocates per message (parses, header lists, the strings crossing into plugins) from many
// threads at once; mimalloc's per-thread heaps serve that with less contention and less work than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    moat::main()
}
