//! `user add|remove|list`: the same command on the node and the hub, each with the roles
//! that make sense there ([`NodeRole`], [`HubRole`]), so that `--help` lists them and a
//! wrong one is refused by the command line before a password is asked for.

use crate::account::{check_name, read_password, Accounts, Role};
use anyhow::Result;
use clap::builder::EnumValueParser;
use clap::{Subcommand, ValueEnum};

/// Accounts for the web pages; `R` is the roles the server knows.
#[derive(Debug, Subcommand)]
pub enum UserCmd<R: ValueEnum + Clone + Send + Sync + 'static> {
    /// Thêm tài khoản, hoặc đặt mật khẩu và vai trò mới cho tài khoản đã có.
    ///
    /// Mật khẩu được hỏi hai lần và không hiện khi gõ; trong kịch bản, lấy từ biến môi
    /// trường TINNHIEM_PASSWORD hoặc một dòng của đầu vào chuẩn.
    Add {
        /// Tên đăng nhập (chữ thường không dấu, chữ số, `.`, `-`, `_`).
        #[arg(value_name = "TÊN")]
        name: String,
        /// Vai trò.
        #[arg(long, value_name = "VAI_TRÒ", value_parser = EnumValueParser::<R>::new())]
        role: R,
    },
    /// Xóa tài khoản (các phiên đăng nhập của nó kết thúc ở yêu cầu kế tiếp).
    Remove {
        /// Tên đăng nhập.
        #[arg(value_name = "TÊN")]
        name: String,
    },
    /// Liệt kê các tài khoản và vai trò.
    List,
}

/// Roles on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeRole {
    /// Thư ký kiểm phiếu: nhập và niêm phong.
    Clerk,
    /// Quản trị: mọi việc trên máy này.
    Admin,
}

/// Roles on a hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HubRole {
    /// Cán bộ tỉnh: bảng theo dõi.
    Staff,
    /// Người xem xét: chỉ đọc kết quả theo người.
    Reviewer,
    /// Quản trị: mọi việc trên máy chủ này.
    Admin,
}

impl From<NodeRole> for Role {
    fn from(r: NodeRole) -> Role {
        match r {
            NodeRole::Clerk => Role::Clerk,
            NodeRole::Admin => Role::Admin,
        }
    }
}

impl From<HubRole> for Role {
    fn from(r: HubRole) -> Role {
        match r {
            HubRole::Staff => Role::Staff,
            HubRole::Reviewer => Role::Reviewer,
            HubRole::Admin => Role::Admin,
        }
    }
}

/// Runs a `user` command on `accounts`.
pub fn run<R>(accounts: &Accounts, cmd: UserCmd<R>) -> Result<()>
where
    R: ValueEnum + Clone + Send + Sync + 'static + Into<Role>,
{
    match cmd {
        UserCmd::Add { name, role } => {
            let r: Role = role.into();
            check_name(&name)?;
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
