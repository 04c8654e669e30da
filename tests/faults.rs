//! Disk faults injected through the log's fail points (placeholder).
