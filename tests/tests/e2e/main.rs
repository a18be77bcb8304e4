//! Every end-to-end test in one binary: each would otherwise link its own copy of the host and wasmtime
//! (~140 MB and a link each in a debug build), which cost CI minutes and gigabytes of disk.

mod antivirus;
mod authentication;
mod browser;
mod chains;
mod cluster;
mod console;
mod digests;
mod example;
mod faults;
mod ldap;
mod mail_path;
mod outbound;
mod plugin_cases;
mod plugin_cli;
mod reputation;
mod security;
mod signup;
