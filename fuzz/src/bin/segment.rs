//! Fuzz target `segment`: see `runnel::fuzzing::segment`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = runnel::fuzzing::segment(data);
    });
}
