//! Simulator of the akana API (being implemented).
