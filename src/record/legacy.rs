//! Legacy message sets (magic 0 and 1), read only, CRC32 (IEEE) checked with crc32fast.
