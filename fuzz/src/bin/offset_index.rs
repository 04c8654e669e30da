//! Fuzz target `offset_index`: see `runnel::fuzzing::offset_index`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = runnel::fuzzing::offset_index(data);
    });
}
