//! Fuzz target `txn_index`: see `runnel::fuzzing::txn_index`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = runnel::fuzzing::txn_index(data);
    });
}
