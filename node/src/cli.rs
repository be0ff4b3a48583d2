//! The command line, as clap types. Every text here is what the clerk reads in `--help`:
//! Vietnamese, like every other output (headings and usage errors: [`tinnhiem_web::command_line`]).
//! Enumerated values are [`ValueEnum`]s spelled as in files and scripts, so `--help`
//! lists them and a wrong one is refused before anything is opened.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tinnhiem_core::domain::{Exclusion, Mode, Procedure, Profile};
use tinnhiem_store::BackendKind;
use tinnhiem_web::users::{NodeRole, UserCmd};

/// Máy của văn phòng HĐND (hoặc cấp ủy): phiên lấy phiếu, phiếu, kết quả, biên bản niêm phong.
#[derive(Debug, Parser)]
#[command(
    name = "tinnhiem-node",
    version,
    about = "Máy của văn phòng HĐND (hoặc cấp ủy): phiên lấy phiếu tín nhiệm, phiếu, kết quả và biên bản niêm phong, làm việc không cần mạng.",
    long_about = None
)]
pub struct Cli {
    /// Thư mục làm việc của máy (khóa, kho dữ liệu, biên bản đã niêm phong). Mặc định:
    /// thư mục dữ liệu của hệ điều hành.
    #[arg(long, global = true, env = "TINNHIEM_HOME", value_name = "THƯ_MỤC")]
    pub home: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Khởi tạo thư mục làm việc: cặp khóa của đơn vị (quyền 0600) và cấu hình.
    Init {
        /// Mã đơn vị (ví dụ `lai-chau.phong-tho`).
        #[arg(long, value_name = "MÃ")]
        unit: String,
        /// Tên đơn vị, in trên biên bản (ví dụ `HĐND huyện Phong Thổ`).
        #[arg(long, value_name = "TÊN")]
        name: Option<String>,
        /// Kiểu kho dữ liệu của thư mục mới (sled 0.34 có thể hỏng khi bị tắt đột ngột,
        /// xem ARCHITECTURE.md).
        #[arg(long, value_name = "KIỂU", default_value = "redb")]
        store: StoreArg,
    },
    /// Khóa của đơn vị.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Phiên lấy phiếu: tạo, nhập từ tệp, liệt kê, xem.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Người được lấy phiếu.
    #[command(subcommand)]
    Subject(SubjectCmd),
    /// Ban kiểm phiếu và phần đầu biên bản.
    #[command(subcommand)]
    Board(BoardCmd),
    /// Số đại biểu (thành viên) có mặt.
    #[command(subcommand)]
    Attendance(AttendanceCmd),
    /// Số phiếu phát ra, thu về.
    #[command(subcommand)]
    Ballots(BallotsCmd),
    /// Kết quả từng người, nhập từ bản tổng hợp giấy (kiểu nhập tổng hợp).
    #[command(subcommand)]
    Tally(TallyCmd),
    /// Từng phiếu (kiểu nhập từng phiếu).
    #[command(subcommand)]
    Entry(EntryCmd),
    /// Kết quả: bảng, hoặc JSON với --json.
    Result {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Niêm phong biên bản kiểm phiếu: bị từ chối, kèm mọi vấn đề, nếu chưa đủ 2/3 hoặc
    /// số liệu chưa khớp.
    Seal {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
    },
    /// Kiểm mọi niêm phong của một phiên với tài liệu. Mã thoát 0 khi tất cả hợp lệ.
    Verify {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mang phiên giữa các máy: xuất ra tệp, gộp từ tệp.
    #[command(subcommand)]
    Doc(DocCmd),
    /// Xuất biên bản kiểm phiếu để in (HTML), kết quả (CSV, Excel) và/hoặc mã QR (PNG).
    Export {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Ghi biên bản kiểm phiếu (mẫu Phụ lục 4, để in) ra tệp HTML này.
        #[arg(long, value_name = "TỆP.html")]
        minutes: Option<PathBuf>,
        /// Ghi kết quả từng người ra tệp CSV này.
        #[arg(long, value_name = "TỆP.csv")]
        csv: Option<PathBuf>,
        /// Ghi kết quả từng người ra tệp Excel (XLSX) này.
        #[arg(long, value_name = "TỆP.xlsx")]
        xlsx: Option<PathBuf>,
        /// Ghi mã QR của lần niêm phong hiện tại (niêm phong và kết quả) ra tệp PNG này.
        #[arg(long, value_name = "TỆP.png")]
        qr: Option<PathBuf>,
    },
    /// Các thời hạn theo quy định của một phiên.
    Deadlines {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Các quy định (profile) máy này biết.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Nhật ký thao tác của máy này (ai đã thay đổi gì, lúc nào).
    Audit {
        /// In dạng JSON (thời điểm theo RFC 3339).
        #[arg(long)]
        json: bool,
    },
    /// Máy chủ tỉnh mà máy này báo cáo.
    #[command(subcommand)]
    Hub(HubCmd),
    /// Gửi biên bản đã niêm phong lên máy chủ.
    ///
    /// --once: gửi một lượt, mã thoát 0 chỉ khi mọi niêm phong đã có biên nhận hợp lệ;
    /// --daemon: gửi mãi (thử lại thưa dần) cho đến khi bị dừng.
    Sync {
        /// Gửi tất cả, chờ biên nhận hoặc thôi sau --timeout.
        #[arg(long, conflicts_with = "daemon")]
        once: bool,
        /// Gửi mãi, thử lại khi mất kết nối.
        #[arg(long)]
        daemon: bool,
        /// Với --once: thôi sau ngần này giây.
        #[arg(long, value_name = "GIÂY", default_value_t = 60)]
        timeout: u64,
        /// Với --once: in tóm tắt dạng JSON.
        #[arg(long)]
        json: bool,
        /// Cùng --once: gửi ngay, kể cả khi máy chủ vừa từ chối (chưa đến giờ thử lại)
        /// hoặc đã từ chối hẳn một biên bản (sau khi đã sửa nguyên nhân).
        #[arg(long, requires = "once")]
        retry_now: bool,
    },
    /// Tình trạng gửi từng niêm phong lên máy chủ: chờ, đã gửi, đã nhận, bị từ chối.
    Status {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Kiểm các biên nhận đã lưu với khóa của máy chủ, không cần mạng.
    VerifyReceipt,
    /// Mở trang web cho thư ký (cả quy trình một phiên, không cần mạng) cho đến khi bị dừng.
    Serve {
        /// Địa chỉ, ví dụ 127.0.0.1:8080. Chỉ để trên máy này (localhost), trừ khi có
        /// proxy TLS phía trước (deploy/OPERATIONS.md).
        #[arg(long, value_name = "ĐỊA_CHỈ", default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Đồng thời gửi biên bản đã niêm phong lên máy chủ, như `sync --daemon`.
        #[arg(long)]
        sync: bool,
    },
    /// Kiểm ảnh chụp hoặc bản quét của biên bản giấy: niêm phong và kết quả trong mã QR
    /// được kiểm và đối chiếu với dữ liệu của máy này. Mã thoát 0 chỉ khi khớp và là lần
    /// niêm phong mới nhất (bản giấy của một lần niêm phong đã bị thay thế không còn là
    /// kết quả hiện hành).
    VerifyPaper {
        /// Ảnh PNG hoặc JPEG.
        #[arg(value_name = "ẢNH")]
        image: PathBuf,
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sao lưu máy này trong khi vẫn làm việc: kho dữ liệu (một bản chụp nhất quán),
    /// cấu hình, khóa, tài khoản và bản sao biên bản đã niêm phong.
    Backup {
        /// Thư mục đích, chưa có.
        #[arg(value_name = "THƯ_MỤC")]
        dest: PathBuf,
    },
    /// Khôi phục bản sao lưu vào --home, phải là thư mục mới (không bao giờ ghi đè).
    Restore {
        /// Thư mục sao lưu.
        #[arg(value_name = "THƯ_MỤC")]
        from: PathBuf,
    },
    /// Tài khoản đăng nhập trang web (vai trò clerk, admin).
    #[command(subcommand)]
    User(UserCmd<NodeRole>),
}

/// `hub` subcommands.
#[derive(Debug, Subcommand)]
pub enum HubCmd {
    /// Đặt máy chủ: địa chỉ QUIC và khóa công khai (`tinnhiem-hub key show` trên máy chủ).
    Set {
        /// `HOST:CỔNG`.
        #[arg(long, value_name = "HOST:CỔNG")]
        addr: String,
        /// 64 ký tự hex.
        #[arg(long, value_name = "KHÓA")]
        key: String,
    },
}

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// In khóa công khai (64 ký tự hex).
    Show,
    /// Tạo cặp khóa mới; khóa cũ được giữ ở unit.key.<thời điểm>.old. Sau đó nhờ máy chủ
    /// đăng ký khóa mới (`tinnhiem-hub registry rotate`): niêm phong làm trước vẫn hợp lệ.
    Rotate,
}

/// `session` subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Tạo một phiên trống.
    Create(CreateArgs),
    /// Nhập cả một phiên từ tệp JSON.
    Import {
        /// Tệp JSON.
        #[arg(value_name = "TỆP")]
        file: PathBuf,
    },
    /// Liệt kê các phiên của máy này.
    List {
        /// In dạng JSON (ngày theo ISO 8601, thời điểm theo RFC 3339).
        #[arg(long)]
        json: bool,
    },
    /// Tóm tắt một phiên: thông tin chung, số liệu, người được lấy phiếu, các lần niêm phong.
    Show {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
    },
    /// Xóa một phiên chưa từng niêm phong (biên bản đã niêm phong không bao giờ bị xóa).
    /// Tài liệu cuối được giữ ở HOME/deleted/; bản sao gộp về sau từ máy khác bị từ chối,
    /// trừ khi dùng `doc merge --restore`.
    Delete {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Xác nhận xóa: không có cờ này thì chỉ nói điều sẽ bị xóa.
        #[arg(long)]
        yes: bool,
    },
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Mỗi quy định một dòng: đang áp dụng hay quy định cũ, mẫu số, điều kiện có mặt,
    /// các hạn; rồi các quy định tài liệu gốc không mô tả đủ để tính.
    List {
        /// In dạng JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `session create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Mã phiên (ví dụ `hdnd-2023-ky-hop-14`).
    #[arg(value_name = "PHIÊN")]
    pub session: String,
    /// Quy định áp dụng: nq96-2023 (HĐND, Nghị quyết 96/2023/QH15) hoặc qd96-2023 (Đảng,
    /// Quy định 96-QĐ/TW); để tính lại kết quả cũ: nq85-2014 (Nghị quyết 85/2014/QH13),
    /// qd262-2014 (Quy định 262-QĐ/TW). Xem `profile list`.
    #[arg(long, value_name = "QUY_ĐỊNH", value_parser = ProfileParser)]
    pub profile: Profile,
    /// Hình thức: poll (lấy phiếu: cao / tín nhiệm / thấp) hoặc binding (bỏ phiếu: tín
    /// nhiệm / không tín nhiệm).
    #[arg(long, value_name = "HÌNH_THỨC", default_value = "poll")]
    pub procedure: ProcedureArg,
    /// Cách nhập: entries (từng phiếu) hoặc tallies (tổng hợp từ bản giấy).
    #[arg(long, value_name = "CÁCH_NHẬP", default_value = "entries")]
    pub mode: ModeArg,
    /// Cơ quan bỏ phiếu (ví dụ `HĐND huyện Phong Thổ`).
    #[arg(long, value_name = "CƠ_QUAN")]
    pub body: String,
    /// Ngày bỏ phiếu, dd/mm/yyyy hoặc YYYY-MM-DD.
    #[arg(long, value_name = "NGÀY")]
    pub date: String,
    /// Ngày khai mạc kỳ họp, dd/mm/yyyy hoặc YYYY-MM-DD, khi kỳ họp khai mạc trước ngày
    /// bỏ phiếu (mặc định: ngày bỏ phiếu). Các mốc 45, 25, 20 ngày của NQ 96 tính từ ngày này.
    #[arg(long, value_name = "NGÀY")]
    pub opening_date: Option<String>,
    /// Tên kỳ họp hoặc hội nghị (ví dụ `Kỳ họp thứ mười lăm`).
    #[arg(long, value_name = "TÊN")]
    pub title: Option<String>,
}

/// `subject` subcommands.
#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Thêm một người vào cuối danh sách. Mã dòng đã có bị từ chối, nói rõ ai đang ở
    /// dòng đó (sửa bằng `subject edit`).
    Add {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Mã dòng (ví dụ `s01`).
        #[arg(long, value_name = "MÃ")]
        id: String,
        /// Mã người, giữ nguyên qua các phiên (ví dụ `p-0001`).
        #[arg(long, value_name = "MÃ_NGƯỜI")]
        person: String,
        /// Họ và tên.
        #[arg(long, value_name = "HỌ_TÊN")]
        name: String,
        /// Chức vụ.
        #[arg(long, value_name = "CHỨC_VỤ", default_value = "")]
        position: String,
        /// Đơn vị công tác.
        #[arg(long, value_name = "ĐƠN_VỊ", default_value = "")]
        unit: String,
        /// Có trong danh sách nhưng không lấy phiếu, vì lý do: retiring, elected_this_year,
        /// appointed_this_year, polled_on_another_line, hoặc bằng lời ("nghỉ hưu", "được bầu
        /// trong năm", …).
        #[arg(long, value_name = "LÝ_DO")]
        excluded: Option<String>,
    },
    /// Sửa một dòng của danh sách; điều không nêu giữ nguyên.
    Edit {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Mã dòng (ví dụ `s03`).
        #[arg(value_name = "MÃ")]
        id: String,
        /// Mã người.
        #[arg(long, value_name = "MÃ_NGƯỜI")]
        person: Option<String>,
        /// Họ và tên.
        #[arg(long, value_name = "HỌ_TÊN")]
        name: Option<String>,
        /// Chức vụ.
        #[arg(long, value_name = "CHỨC_VỤ")]
        position: Option<String>,
        /// Đơn vị công tác.
        #[arg(long, value_name = "ĐƠN_VỊ")]
        unit: Option<String>,
        /// Có trong danh sách nhưng không lấy phiếu, vì lý do này (như ở `subject add`).
        #[arg(long, value_name = "LÝ_DO", conflicts_with = "polled")]
        excluded: Option<String>,
        /// Vẫn lấy phiếu: bỏ lý do không lấy phiếu.
        #[arg(long)]
        polled: bool,
    },
    /// Bỏ một dòng khỏi danh sách. Bị từ chối khi phiếu hoặc kết quả tổng hợp đã ghi
    /// mức cho người này, trừ khi có --drop-marks (bỏ cả các mức đó; phiếu vẫn giữ).
    Remove {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Mã dòng.
        #[arg(value_name = "MÃ")]
        id: String,
        /// Bỏ cả các mức và kết quả đã ghi cho người này.
        #[arg(long)]
        drop_marks: bool,
    },
    /// Danh sách, theo thứ tự trên phiếu.
    List {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
    },
    /// Nhập người được lấy phiếu từ CSV: cột `STT` hoặc `id`, `Họ và tên` (name), `Mã
    /// người` (person_id), `Chức vụ`, `Đơn vị công tác`, `Lý do không lấy phiếu` (chữ hoa
    /// hay thường, có dấu hay không; phân cách `,` hoặc `;`). Dòng có mã đã có trong danh
    /// sách làm cả tệp bị từ chối, trừ khi có --replace.
    Import {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Tệp CSV.
        #[arg(value_name = "TỆP")]
        file: PathBuf,
        /// Thay các dòng có mã đã có trong danh sách.
        #[arg(long)]
        replace: bool,
    },
}

/// `board` subcommands.
#[derive(Debug, Subcommand)]
pub enum BoardCmd {
    /// Ghi ban kiểm phiếu và phần đầu biên bản.
    Set {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Trưởng ban kiểm phiếu.
        #[arg(long, value_name = "HỌ_TÊN")]
        chair: Option<String>,
        /// Các thành viên, cách nhau bởi `;`.
        #[arg(long, value_name = "DANH_SÁCH")]
        members: Option<String>,
        /// Bắt đầu kiểm phiếu lúc HH:MM.
        #[arg(long, value_name = "HH:MM")]
        from: Option<String>,
        /// Kết thúc kiểm phiếu lúc HH:MM.
        #[arg(long, value_name = "HH:MM")]
        to: Option<String>,
        /// Nơi kiểm phiếu.
        #[arg(long, value_name = "NƠI")]
        place: Option<String>,
        /// Tên kỳ họp hoặc hội nghị.
        #[arg(long, value_name = "TÊN")]
        title: Option<String>,
        /// Ngày nghị quyết xác nhận kết quả, dd/mm/yyyy hoặc YYYY-MM-DD.
        #[arg(long, value_name = "NGÀY")]
        resolution_date: Option<String>,
        /// Cơ quan giao nhiệm vụ kiểm phiếu («Thực hiện nhiệm vụ do … giao»).
        #[arg(long, value_name = "CƠ_QUAN")]
        assigned_by: Option<String>,
        /// Chức danh được lấy phiếu («kiểm phiếu tín nhiệm của … đối với …»).
        #[arg(long, value_name = "CHỨC_DANH")]
        polled_posts: Option<String>,
        /// Ngày khai mạc kỳ họp, dd/mm/yyyy hoặc YYYY-MM-DD (mặc định: ngày bỏ phiếu).
        #[arg(long, value_name = "NGÀY")]
        opening_date: Option<String>,
    },
}

/// `attendance` subcommands.
#[derive(Debug, Subcommand)]
pub enum AttendanceCmd {
    /// Ghi một hoặc nhiều số liệu có mặt.
    Set {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Tổng số đại biểu (thành viên) được triệu tập.
        #[arg(long, value_name = "SỐ")]
        total: Option<u64>,
        /// Có mặt dự kỳ họp (hội nghị).
        #[arg(long, value_name = "SỐ")]
        present: Option<u64>,
        /// Vắng mặt từ đầu đến trước khi bỏ phiếu.
        #[arg(long, value_name = "SỐ")]
        absent_from_start: Option<u64>,
        /// Có mặt tại thời điểm bỏ phiếu.
        #[arg(long, value_name = "SỐ")]
        present_at_vote: Option<u64>,
    },
}

/// `ballots` subcommands.
#[derive(Debug, Subcommand)]
pub enum BallotsCmd {
    /// Ghi một hoặc nhiều số phiếu.
    Set {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Số phiếu phát ra.
        #[arg(long, value_name = "SỐ")]
        issued: Option<u64>,
        /// Số phiếu thu về.
        #[arg(long, value_name = "SỐ")]
        collected: Option<u64>,
        /// Số phiếu thu về không hợp lệ hoàn toàn (không do ban kiểm phiếu phát ra).
        #[arg(long, value_name = "SỐ")]
        wholly_invalid: Option<u64>,
    },
}

/// `tally` subcommands.
#[derive(Debug, Subcommand)]
pub enum TallyCmd {
    /// Ghi kết quả của một người.
    Set {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Mã dòng của người được lấy phiếu.
        #[arg(value_name = "MÃ")]
        subject: String,
        /// Lấy phiếu: số phiếu tín nhiệm cao.
        #[arg(long, value_name = "SỐ")]
        high: Option<u64>,
        /// Số phiếu tín nhiệm (cả hai hình thức).
        #[arg(long, value_name = "SỐ")]
        confidence: Option<u64>,
        /// Lấy phiếu: số phiếu tín nhiệm thấp.
        #[arg(long, value_name = "SỐ")]
        low: Option<u64>,
        /// Bỏ phiếu: số phiếu không tín nhiệm.
        #[arg(long, value_name = "SỐ")]
        no_confidence: Option<u64>,
        /// Số phiếu không hợp lệ riêng với người này.
        #[arg(long, value_name = "SỐ", default_value_t = 0)]
        invalid: u64,
    },
}

/// `entry` subcommands.
#[derive(Debug, Subcommand)]
pub enum EntryCmd {
    /// Nhập một phiếu: `--marks s01=high,s02=low,...` (người không được đánh dấu ô nào
    /// thì phiếu không hợp lệ với người đó).
    Add {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Các mức: high|confidence|low (lấy phiếu), confidence|no_confidence (bỏ
        /// phiếu), invalid (không hợp lệ).
        #[arg(long, value_name = "MÃ=MỨC,...")]
        marks: String,
    },
    /// Các phiếu đã nhập, theo thứ tự nhập (phiếu của các máy đã gộp: theo thứ tự
    /// trước sau giữa các máy), mỗi phiếu với mã và các mức.
    List {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// In dạng JSON: `[{"id": ..., "marks": {"s01": "high", ...}}, ...]`.
        #[arg(long)]
        json: bool,
    },
    /// Xóa một phiếu nhập nhầm.
    Remove {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Mã phiếu do `entry add` in ra.
        #[arg(value_name = "MÃ_PHIẾU")]
        id: String,
    },
}

/// `doc` subcommands.
#[derive(Debug, Subcommand)]
pub enum DocCmd {
    /// Ghi tài liệu của phiên ra tệp (để chép sang USB).
    Export {
        /// Mã phiên.
        #[arg(value_name = "PHIÊN")]
        session: String,
        /// Tệp ra.
        #[arg(short = 'o', long = "output", value_name = "TỆP")]
        output: PathBuf,
    },
    /// Gộp tài liệu của một phiên từ tệp vào máy này. Bản sao của một phiên đã xóa ở
    /// máy này bị từ chối, trừ khi dùng --restore.
    Merge {
        /// Tệp do `doc export` ghi.
        #[arg(value_name = "TỆP")]
        file: PathBuf,
        /// Lấy lại một phiên đã xóa ở máy này.
        #[arg(long)]
        restore: bool,
    },
}

/// `--store`: the storage engine of a new home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    /// redb (mặc định).
    Redb,
    /// sled 0.34.
    Sled,
}

impl From<StoreArg> for BackendKind {
    fn from(s: StoreArg) -> BackendKind {
        match s {
            StoreArg::Redb => BackendKind::Redb,
            StoreArg::Sled => BackendKind::Sled,
        }
    }
}

/// `--profile`: a profile's key; a regime the seeds name without describing it is
/// refused with what they lack (`Profile::parse_or_why`).
pub fn profile_value(s: &str) -> Result<Profile, String> {
    Profile::parse_or_why(s)
}

/// `--profile` for clap: the help lists every profile, an unknown word is refused
/// naming them, and a regime the seeds only name is refused saying what they lack.
#[derive(Debug, Clone, Copy)]
pub struct ProfileParser;

impl clap::builder::TypedValueParser for ProfileParser {
    type Value = Profile;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Profile, clap::Error> {
        let s = value.to_string_lossy();
        if let Some(p) = Profile::parse(&s) {
            return Ok(p);
        }
        if Profile::undescribed(&s).is_some() {
            return profile_value.parse_ref(cmd, arg, value);
        }
        clap::builder::PossibleValuesParser::new(Profile::ALL.map(Profile::key))
            .parse_ref(cmd, arg, value)
            .and_then(|s| {
                profile_value(&s)
                    .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e))
            })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            Profile::ALL
                .into_iter()
                .map(|p| clap::builder::PossibleValue::new(p.key())),
        ))
    }
}

/// `--procedure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProcedureArg {
    /// Lấy phiếu tín nhiệm: cao / tín nhiệm / thấp.
    Poll,
    /// Bỏ phiếu tín nhiệm: tín nhiệm / không tín nhiệm.
    Binding,
}

impl From<ProcedureArg> for Procedure {
    fn from(p: ProcedureArg) -> Procedure {
        match p {
            ProcedureArg::Poll => Procedure::Poll,
            ProcedureArg::Binding => Procedure::Binding,
        }
    }
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Nhập từng phiếu.
    Entries,
    /// Nhập tổng hợp từ bản giấy.
    Tallies,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Entries => Mode::Entries,
            ModeArg::Tallies => Mode::Tallies,
        }
    }
}

/// `--excluded`, spelled as `Exclusion::key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExclusionArg {
    /// Đã có thông báo nghỉ hưu.
    #[value(name = "retiring")]
    Retiring,
    /// Được bầu trong năm lấy phiếu.
    #[value(name = "elected_this_year")]
    ElectedThisYear,
    /// Được bổ nhiệm trong năm lấy phiếu.
    #[value(name = "appointed_this_year")]
    AppointedThisYear,
    /// Đã được lấy phiếu ở dòng khác.
    #[value(name = "polled_on_another_line")]
    PolledOnAnotherLine,
    /// NQ 85/2014: đảm nhiệm chức vụ chưa đủ 09 tháng đến ngày khai mạc.
    #[value(name = "under_nine_months")]
    UnderNineMonths,
}

impl From<ExclusionArg> for Exclusion {
    fn from(e: ExclusionArg) -> Exclusion {
        match e {
            ExclusionArg::Retiring => Exclusion::Retiring,
            ExclusionArg::ElectedThisYear => Exclusion::ElectedThisYear,
            ExclusionArg::AppointedThisYear => Exclusion::AppointedThisYear,
            ExclusionArg::PolledOnAnotherLine => Exclusion::PolledOnAnotherLine,
            ExclusionArg::UnderNineMonths => Exclusion::UnderNineMonths,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name<V: ValueEnum>(v: &V) -> String {
        v.to_possible_value()
            .map(|p| p.get_name().to_string())
            .unwrap_or_default()
    }

    /// The command line takes the same words as files and scripts: each value's name is
    /// the domain's key, and every profile the domain knows can be chosen.
    #[test]
    fn values_are_spelled_as_the_domain_spells_them() {
        for p in Profile::ALL {
            assert_eq!(profile_value(p.key()), Ok(p));
        }
        assert!(profile_value("nq35-2012").is_err_and(|e| e.contains("không nêu")));
        for v in ProcedureArg::value_variants() {
            assert_eq!(Procedure::parse(&name(v)), Some(Procedure::from(*v)));
        }
        for v in ModeArg::value_variants() {
            assert_eq!(Mode::parse(&name(v)), Some(Mode::from(*v)));
        }
        for v in ExclusionArg::value_variants() {
            assert_eq!(Exclusion::parse(&name(v)), Some(Exclusion::from(*v)));
        }
        for v in StoreArg::value_variants() {
            assert_eq!(BackendKind::parse(&name(v)), Some(BackendKind::from(*v)));
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
