//! Simulator of the tr50 API (being implemented).
