//! Result tables as files a clerk opens in a spreadsheet: CSV and XLSX, for the node and
//! the hub alike.
//!
//! The CSV is written for Excel as set up in a Vietnamese office: UTF-8 with a BOM (else
//! Excel reads the diacritics as Windows-1258/1252 mojibake), `;` between cells and a
//! decimal comma (the Vietnamese locale's list separator and decimal sign, so a double
//! click opens it in columns with numbers Excel can add up). Any text cell that a
//! spreadsheet could take for a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a `'`
//! in front: names and positions come from people, and a position `=1+2+cmd|…` must be
//! shown, never run. The XLSX writes every text as a string cell, so it needs no such
//! prefix; numbers are number cells, percentages numbers with two decimals.

use rust_xlsxwriter::{Color, Format, Workbook, XlsxError};
use tinnhiem_core::domain::Percent;

/// One cell of a result table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text from a person or a label: written as a string, never as a formula.
    Text(String),
    /// A count.
    Num(u64),
    /// A percentage: `81,63` in CSV, the number 81.63 in XLSX.
    Percent(Percent),
    /// Nothing (a level the procedure does not have).
    Empty,
}

/// A header line and rows; `flag_col`, when set, is the column whose non-empty text marks
/// a row the XLSX shades, as the pages do.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    /// Column titles, in Vietnamese.
    pub headers: Vec<String>,
    /// The rows, each as long as `headers`.
    pub rows: Vec<Vec<Cell>>,
    /// The warning column, if any.
    pub flag_col: Option<usize>,
}

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The CSV writer failed.
    #[error("không ghi được CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The XLSX writer failed.
    #[error("không ghi được tệp Excel: {0}")]
    Xlsx(#[from] XlsxError),
}

/// The CSV field separator Excel expects in the Vietnamese locale.
pub const CSV_SEPARATOR: u8 = b';';

/// A text cell as it may go into a CSV: a `'` in front of what a spreadsheet would run.
pub fn neutralise(t: &str) -> String {
    match t.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{t}"),
        _ => t.to_string(),
    }
}

impl Sheet {
    /// UTF-8 with a BOM, `;`-separated, decimal commas, formula-looking text neutralised.
    pub fn csv(&self) -> Result<Vec<u8>, SheetError> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(CSV_SEPARATOR)
            .from_writer(b"\xEF\xBB\xBF".to_vec());
        w.write_record(self.headers.iter().map(|h| neutralise(h)))?;
        for row in &self.rows {
            w.write_record(row.iter().map(|c| match c {
                Cell::Text(t) => neutralise(t),
                Cell::Num(n) => n.to_string(),
                Cell::Percent(p) => p.comma(),
                Cell::Empty => String::new(),
            }))?;
        }
        w.into_inner()
            .map_err(|e| SheetError::Csv(e.into_error().into()))
    }

    /// One worksheet named `name`, bold header, frozen first line, flagged rows shaded.
    pub fn xlsx(&self, name: &str) -> Result<Vec<u8>, SheetError> {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        let bold = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xEEF1F4));
        let plain = Format::new();
        let flagged = Format::new().set_background_color(Color::RGB(0xFDE8E8));
        let pct = Format::new().set_num_format("0.00");
        let pct_flagged = pct.clone().set_background_color(Color::RGB(0xFDE8E8));
        for (c, h) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, col(c), h, &bold)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
            let is_flagged = self
                .flag_col
                .and_then(|i| row.get(i))
                .is_some_and(|c| matches!(c, Cell::Text(t) if !t.is_empty()));
            let (text, number) = if is_flagged {
                (&flagged, &pct_flagged)
            } else {
                (&plain, &pct)
            };
            for (c, cell) in row.iter().enumerate() {
                let c = col(c);
                match cell {
                    Cell::Text(t) => sheet.write_string_with_format(r, c, t, text)?,
                    Cell::Num(n) => sheet.write_number_with_format(r, c, *n as f64, text)?,
                    Cell::Percent(p) => {
                        sheet.write_number_with_format(r, c, f64::from(p.0) / 100.0, number)?
                    }
                    Cell::Empty => sheet,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofit();
        Ok(book.save_to_buffer()?)
    }
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// The MIME type of an XLSX file.
pub const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sheet {
        Sheet {
            headers: vec!["Họ và tên".into(), "Tín nhiệm (%)".into()],
            rows: vec![vec![
                Cell::Text("=1+2+cmd|' /C calc'!A0".into()),
                Cell::Percent(Percent(8163)),
            ]],
            flag_col: None,
        }
    }

    #[test]
    fn csv_has_bom_semicolons_commas_and_no_formula() {
        let b = sample().csv().expect("csv");
        assert!(b.starts_with(b"\xEF\xBB\xBF"));
        let t = String::from_utf8(b[3..].to_vec()).expect("utf8");
        assert!(t.starts_with("Họ và tên;Tín nhiệm (%)\n"), "{t}");
        assert!(t.contains("'=1+2+cmd"), "{t}");
        assert!(t.contains(";81,63"), "{t}");
    }

    #[test]
    fn neutralise_only_what_a_spreadsheet_runs() {
        for s in ["=A1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(s), format!("'{s}"));
        }
        assert_eq!(neutralise("Nguyễn Văn A"), "Nguyễn Văn A");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn xlsx_is_a_zip() {
        let b = sample().xlsx("Kết quả").expect("xlsx");
        assert_eq!(&b[..2], b"PK");
    }
}
