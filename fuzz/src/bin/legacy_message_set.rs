//! Fuzz target `legacy_message_set`: see `runnel::fuzzing::legacy_message_set`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        runnel::fuzzing::legacy_message_set(data);
    });
}
