//! File rotation by size and by time, with retention and compression.
