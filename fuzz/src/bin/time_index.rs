//! Fuzz target `time_index`: see `runnel::fuzzing::time_index`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = runnel::fuzzing::time_index(data);
    });
}
