//! Text as people search it: Vietnamese names typed with or without diacritics.

use unicode_normalization::UnicodeNormalization;

/// Folds a text for matching: lower case, diacritics removed (NFD, combining marks
/// dropped), `đ` as `d`, runs of white space as one space. "Nguyễn Văn Đức" and
/// "nguyen van duc" fold to the same text.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            c => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether `name` matches the query `q`: every folded word of `q` starts a word of the
/// folded name, in order ("nguyen duc" finds "Nguyễn Văn Đức").
pub fn name_matches(name: &str, q: &str) -> bool {
    let name = fold(name);
    let words: Vec<&str> = name.split(' ').collect();
    let mut at = 0;
    for part in fold(q).split(' ').filter(|p| !p.is_empty()) {
        match words[at..].iter().position(|w| w.starts_with(part)) {
            Some(i) => at += i + 1,
            None => return false,
        }
    }
    !q.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_names_fold_without_diacritics() {
        assert_eq!(fold("Nguyễn Văn Đức"), "nguyen van duc");
        assert_eq!(fold("  TRẦN   Thị  Bích "), "tran thi bich");
        assert_eq!(fold("Giàng A Páo"), "giang a pao");
        assert!(name_matches("Nguyễn Văn Đức", "nguyen duc"));
        assert!(name_matches("Nguyễn Văn Đức", "Nguyễn Đ"));
        assert!(!name_matches("Nguyễn Văn Đức", "duc nguyen"));
        assert!(!name_matches("Nguyễn Văn Đức", ""));
        assert!(!name_matches("Trần Thị Bích", "nguyen"));
    }
}
