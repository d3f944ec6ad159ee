//! Simulator of the scc API (being implemented).
