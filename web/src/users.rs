//! `user add|remove|list`: the same command on the node and the hub, each allowing the
//! roles that make sense there.

use crate::account::{read_password, Accounts, Role};
use anyhow::{anyhow, Result};
use clap::Subcommand;

/// Accounts for the web pages.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add an account, or set a new password and role for an existing one. The password
    /// is read from $TINNHIEM_PASSWORD or one line of standard input.
    Add {
        /// Login name (lower case letters without diacritics, digits, `.`, `-`, `_`).
        name: String,
        /// Role.
        #[arg(long)]
        role: String,
    },
    /// Remove an account (its open sessions end at the next request).
    Remove {
        /// Login name.
        name: String,
    },
    /// List the accounts and their roles.
    List,
}

/// Runs a `user` command on `accounts`; `roles` are those this server knows.
pub fn run(accounts: &Accounts, cmd: UserCmd, roles: &[Role]) -> Result<()> {
    match cmd {
        UserCmd::Add { name, role } => {
            let r = Role::parse(&role)
                .filter(|r| roles.contains(r))
                .ok_or_else(|| {
                    anyhow!(
                        "--role «{role}»: dùng {}",
                        roles.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
                    )
                })?;
            let password = read_password()?;
            accounts.set(&name, r, &password)?;
            println!("Đã ghi tài khoản «{name}» ({})", r.title());
        }
        UserCmd::Remove { name } => {
            accounts.remove(&name)?;
            println!("Đã xóa tài khoản «{name}»");
        }
        UserCmd::List => {
            for u in accounts.list()? {
                println!("{}\t{}", u.name, u.role.key());
            }
        }
    }
    Ok(())
}
