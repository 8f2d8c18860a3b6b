//! Migration (in progress).
