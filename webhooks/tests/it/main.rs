//! Integration tests of the webhooks service: every service a process of its
//! own, and receivers verifying with the Standard Webhooks libraries.

mod api;
mod chaos;
mod delivery;
mod disable;
mod resume;
mod ssrf;
mod stack;
