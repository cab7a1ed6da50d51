//! Integration tests: the real router on a random port, a temporary SQLite database, and a
//! manual clock. One binary, a module per area.

// Tests fail loudly on any unexpected value; that is what unwrap is for here.
#![allow(clippy::unwrap_used)]

mod common;

mod account;
mod admin;
mod audit;
mod authz;
mod bad_input;
mod cluster;
mod connections;
mod cookies;
mod cors;
mod csrf;
mod embed;
mod enumeration;
mod legacy;
mod limits;
mod my_sessions;
mod openapi;
mod ops;
mod protection;
mod redirect;
mod remember;
mod seed;
mod session;
mod spa;
mod store_kit;
mod token;
mod token_attacks;
mod token_external;
mod usernames;
