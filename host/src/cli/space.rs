//! `kubestellar space ...`: run an embedded space server.

use clap::Subcommand;

/// Space subcommands.
#[derive(Debug, Subcommand)]
pub enum SpaceCommand {}

impl SpaceCommand {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {}
    }
}
