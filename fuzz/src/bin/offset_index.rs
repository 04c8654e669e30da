//! Fuzz target `offset_index`: see `runnel::fuzzing::offset_index`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::offset_index(data);
    });
}
