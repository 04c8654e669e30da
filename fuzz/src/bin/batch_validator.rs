//! Fuzz target `batch_validator`: see `runnel::fuzzing::batch_validator`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::batch_validator(data);
    });
}
