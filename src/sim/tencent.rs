//! Simulator of the tencent API (being implemented).
