//! The command line. Every text here is what the operator reads in `--help`: Vietnamese,
//! like every other output (headings and usage errors: [`tinnhiem_web::command_line`]).

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tinnhiem_web::users::{HubRole, UserCmd};

#[derive(Debug, Parser)]
#[command(
    name = "tinnhiem-hub",
    version,
    about = "Máy chủ tỉnh (hoặc cấp trên): nhận, kiểm, cấp biên nhận cho biên bản đã niêm phong, và báo cáo.",
    long_about = None
)]
pub(crate) struct Cli {
    /// Thư mục làm việc của máy chủ. Mặc định: thư mục dữ liệu của hệ điều hành.
    #[arg(long, global = true, env = "TINNHIEM_HUB_HOME", value_name = "THƯ_MỤC")]
    pub(crate) home: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Khởi tạo thư mục làm việc: cặp khóa của máy chủ (quyền 0600) và cấu hình.
    Init {
        /// Mã đơn vị của máy chủ (ví dụ `lai-chau`).
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// Tên.
        #[arg(long, value_name = "TÊN")]
        name: Option<String>,
    },
    /// Khóa của máy chủ.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Danh sách đơn vị báo cáo về máy chủ này.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Các máy chủ cấp trên mà máy chủ này chuyển tiếp tới (cơ quan của Quốc hội, Ban Tổ
    /// chức...): ghi trong hub.toml, `serve` đang chạy đọc lại trong vài giây.
    #[command(subcommand)]
    Destination(DestinationCmd),
    /// Báo cáo tổng hợp có niêm phong của một kỳ, chuyển tới mọi nơi nhận cấp trên.
    #[command(subcommand)]
    Aggregate(AggregateCmd),
    /// Nhật ký minh bạch của mọi thứ máy chủ đã nhận.
    #[command(subcommand)]
    Log(LogCmd),
    /// Chạy máy chủ QUIC (và cổng quản trị cho các lệnh khác).
    Serve {
        /// Địa chỉ lắng nghe.
        #[arg(long, value_name = "ĐỊA_CHỈ", default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// Số kết nối cùng lúc tối đa.
        #[arg(long, value_name = "SỐ", default_value_t = 512)]
        max_connections: usize,
        /// Kích thước tối đa một thông điệp, tính bằng byte.
        #[arg(long, value_name = "BYTE", default_value_t = 8 << 20)]
        max_message: usize,
        /// Kích thước tối đa một tài liệu được giữ, tính bằng byte.
        #[arg(long, value_name = "BYTE", default_value_t = 16 << 20)]
        max_doc: usize,
        /// Số giây tối đa để gửi xong một thông điệp đã bắt đầu (máy gửi quá chậm bị
        /// ngắt; lưu ý đường truyền chậm cỡ max-message / số giây này).
        #[arg(long, value_name = "GIÂY", default_value_t = 60)]
        message_timeout: u64,
        /// Đồng thời mở trang web (bảng theo dõi, tra cứu, biên bản, /metrics) ở địa chỉ
        /// này, ví dụ 127.0.0.1:8080. Chỉ để trên máy này và đặt proxy TLS phía trước cho
        /// máy khác (deploy/OPERATIONS.md).
        #[arg(long, value_name = "ĐỊA_CHỈ")]
        http: Option<SocketAddr>,
    },
    /// Sao lưu máy chủ trong khi chạy: kho dữ liệu (một bản chụp nhất quán do máy chủ
    /// đang chạy chụp), cấu hình, khóa và tài khoản.
    Backup {
        /// Thư mục đích, chưa có.
        #[arg(value_name = "THƯ_MỤC")]
        dest: PathBuf,
    },
    /// Các quy định (profile) máy chủ biết, mỗi quy định một dòng.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Khôi phục bản sao lưu vào --home, phải là thư mục mới (không bao giờ ghi đè).
    Restore {
        /// Thư mục sao lưu.
        #[arg(value_name = "THƯ_MỤC")]
        from: PathBuf,
        /// Thư mục máy chủ cũ (hỏng) còn đọc được: mang theo tệp log.leaves của nó, để
        /// máy chủ biết những gì nó đã ký sau bản sao lưu, không ký trùng số thứ tự và
        /// đòi các đơn vị gửi lại.
        #[arg(long, value_name = "THƯ_MỤC_CŨ")]
        log_from: Option<PathBuf>,
    },
    /// Nhận kết quả từ ảnh chụp hoặc bản quét biên bản giấy (mã QR) khi hoàn toàn không
    /// có đường truyền: kiểm như một niêm phong, ghi là nhận bản giấy cho đến khi tài liệu
    /// điện tử đến và khớp.
    IngestQr {
        /// Ảnh PNG hoặc JPEG.
        #[arg(value_name = "ẢNH")]
        image: PathBuf,
    },
    /// Tài khoản đăng nhập trang web (vai trò staff, reviewer, admin).
    #[command(subcommand)]
    User(UserCmd<HubRole>),
    /// Đơn vị phải báo cáo và đã báo cáo, biên bản đã nhận và bị từ chối.
    Status {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tra cứu một người: mọi nơi người đó được lấy phiếu, đặt cạnh nhau.
    ///
    /// TRA_CỨU là mã người hoặc họ tên, có dấu hay không dấu ("nguyen van a").
    Person {
        /// Mã người hoặc họ tên.
        #[arg(value_name = "TRA_CỨU")]
        query: String,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mọi người vượt ngưỡng, với hậu quả theo quy định và cơ quan phải xử lý.
    Flagged {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Các thời hạn: lịch của từng phiên đã nhận, và của mỗi kỳ là hạn báo cáo 15 tháng 1
    /// cùng các đơn vị chưa báo cáo.
    Deadlines {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
        /// Tính theo ngày này thay cho hôm nay (dd/mm/yyyy hoặc YYYY-MM-DD).
        #[arg(long, value_name = "NGÀY")]
        today: Option<String>,
    },
    /// Mọi phiên đã nhận, với kết quả và cảnh báo.
    Result {
        /// In dạng JSON (như `result --json` của máy huyện, mỗi phiên một mục).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DestinationCmd {
    /// Thêm (hoặc thay) một máy chủ cấp trên: mọi niêm phong đã nhận, cùng tài liệu, và
    /// đăng ký của các đơn vị thuộc máy chủ này được chuyển tới đó, nguyên vẹn.
    Add {
        /// Mã đơn vị của máy chủ cấp trên (ví dụ `quoc-hoi`, `ban-to-chuc-tu`).
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// `HOST:CỔNG` của cổng QUIC.
        #[arg(long, value_name = "HOST:CỔNG")]
        addr: String,
        /// Khóa công khai của nó (`tinnhiem-hub key show` ở đó).
        #[arg(long, value_name = "KHÓA")]
        key: String,
        /// Tên.
        #[arg(long, value_name = "TÊN")]
        name: Option<String>,
    },
    /// Thôi chuyển tiếp tới một máy chủ cấp trên (những gì nó đã nhận vẫn giữ nguyên).
    Remove {
        /// Mã đơn vị của máy chủ cấp trên.
        #[arg(long, value_name = "MÃ")]
        unit: String,
    },
    /// Các máy chủ cấp trên, với số đã gửi khi `serve` đang chạy.
    List {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AggregateCmd {
    /// Niêm phong báo cáo tổng hợp của một kỳ (năm của các phiên): đơn vị đã báo cáo,
    /// chưa báo cáo hoặc muộn, mọi người vượt ngưỡng, tham chiếu tới từng niêm phong.
    /// Niêm phong lại sau đó tạo lần kế tiếp.
    Seal {
        /// Kỳ, ví dụ 2023.
        #[arg(long, value_name = "NĂM")]
        period: i32,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mọi báo cáo tổng hợp đang giữ: của máy chủ này và nhận từ cấp dưới.
    List {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum LogCmd {
    /// Số mục và gốc của nhật ký.
    Show {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Kiểm toàn bộ nhật ký: mọi mục đều được lưu, mỗi biên nhận đúng mục ở vị trí của
    /// nó, mọi gốc đã ký là gốc của nhật ký này (không gì bị viết lại), mọi niêm phong đã
    /// nhận đều có trong đó. Mã thoát 0 chỉ khi tất cả đúng.
    Verify {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCmd {
    /// In khóa công khai (64 ký tự hex).
    Show,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCmd {
    /// Đăng ký một đơn vị (có hiệu lực ngay, cả khi `serve` đang chạy).
    Add {
        /// Mã đơn vị.
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// Khóa công khai của nó (`tinnhiem-node key show`).
        #[arg(long, value_name = "KHÓA")]
        key: String,
        /// Đơn vị cấp trên mà nó báo cáo.
        #[arg(long, value_name = "MÃ")]
        parent: String,
        /// Tên.
        #[arg(long, value_name = "TÊN")]
        name: Option<String>,
        /// Cấp (commune, district, province, national, party...).
        #[arg(long, value_name = "CẤP")]
        level: Option<String>,
        /// Cho phép thêm một khóa thứ hai cho đơn vị đã có khóa (cả hai cùng hợp lệ). Chỉ
        /// dùng khi đã gọi điện đối chiếu dấu vân tay; đổi khóa thì dùng `registry rotate`.
        #[arg(long)]
        add_key: bool,
    },
    /// Thay khóa của một đơn vị từ một thời điểm (mặc định: bây giờ): khóa mới có hiệu lực
    /// từ đó, khóa cũ bị thu hồi từ đó; niêm phong làm trước vẫn hợp lệ.
    Rotate {
        /// Mã đơn vị.
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// Khóa công khai mới.
        #[arg(long, value_name = "KHÓA")]
        key: String,
        /// Thời điểm theo RFC 3339 (mặc định: bây giờ).
        #[arg(long, value_name = "THỜI_ĐIỂM")]
        at: Option<String>,
    },
    /// Thu hồi một khóa của đơn vị từ một thời điểm (mặc định: bây giờ).
    Revoke {
        /// Mã đơn vị.
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// Khóa cần thu hồi.
        #[arg(long, value_name = "KHÓA")]
        key: String,
        /// Thời điểm theo RFC 3339 (mặc định: bây giờ).
        #[arg(long, value_name = "THỜI_ĐIỂM")]
        at: Option<String>,
    },
    /// Đăng ký mọi `[[unit]]` của một tệp TOML (id, key hoặc [[unit.keys]], parent, name,
    /// level).
    Import {
        /// Tệp TOML.
        #[arg(value_name = "TỆP")]
        file: PathBuf,
        /// Cho phép thêm khóa thứ hai cho đơn vị đã có khóa (xem `registry add --add-key`).
        #[arg(long)]
        add_key: bool,
    },
    /// Liệt kê danh sách đăng ký.
    List {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCmd {
    /// Mỗi quy định một dòng: đang áp dụng hay quy định cũ, mẫu số, điều kiện có mặt,
    /// các hạn; rồi các quy định tài liệu gốc không mô tả đủ để tính.
    List {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}
