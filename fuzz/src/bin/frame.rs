//! Fuzz target `frame`: see `runnel::fuzzing::frame`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::frame(data);
    });
}
