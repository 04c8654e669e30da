//! Fuzz target `request`: see `runnel::fuzzing::request`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::request(data);
    });
}
