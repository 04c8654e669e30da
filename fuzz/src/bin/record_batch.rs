//! Fuzz target `record_batch`: see `runnel::fuzzing::record_batch`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::record_batch(data);
    });
}
