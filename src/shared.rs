//! Shared handle (in progress).
