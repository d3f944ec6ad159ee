//! Simulator of the aveva API (being implemented).
