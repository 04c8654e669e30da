//! (log helper)
