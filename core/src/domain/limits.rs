//! Bounds on what a session may hold, and the check that text is only text.
//!
//! Every number and text of a session comes from a person, a file or a peer's document,
//! so each is bounded here, in the domain, where both the node (at input) and the hub
//! (which recomputes every result it receives) apply the same bound. No sum of bounded
//! counts can overflow a `u64`, and no name can be a screenful of control codes.

/// The largest count any field may hold: delegates, ballots, marks. The largest body
/// polled (a Party congress, the National Assembly) has some hundreds of members; ten
/// thousand leaves room and keeps every sum of a session far from overflow.
pub const MAX_COUNT: u64 = 10_000;

/// The most people one session may poll (lines of the list, excluded ones included).
pub const MAX_SUBJECTS: usize = 500;

/// The most members of a counting board.
pub const MAX_BOARD: usize = 50;

/// The longest text field, in characters: a name, a position, a unit, a body, a title.
pub const MAX_TEXT: usize = 300;

/// Why a text was refused, in Vietnamese, with the offending character's position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Longer than [`MAX_TEXT`].
    #[error("dài {len} ký tự, quá giới hạn {MAX_TEXT} ký tự")]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// A control or direction-override character: never part of a name.
    #[error("có ký tự điều khiển không in được (mã U+{code:04X}) ở vị trí {at}")]
    Control {
        /// The character's code point.
        code: u32,
        /// Its position, counted from 1 in characters.
        at: usize,
    },
}

/// Whether `c` may appear in a text field. Line breaks and tabs are refused too: every
/// field is one line (board members are separate fields). Bidirectional overrides and
/// isolates can make a terminal or a page show text in another order than stored.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}'            // LRM, RLM
            | '\u{202A}'..='\u{202E}'          // embeddings and overrides
            | '\u{2066}'..='\u{2069}'          // isolates
            | '\u{2028}' | '\u{2029}'          // line and paragraph separators
            | '\u{FEFF}'                       // a stray byte-order mark
        )
}

/// Checks a text field: one line of printable text, at most [`MAX_TEXT`] characters.
pub fn check_text(s: &str) -> Result<(), TextError> {
    if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| forbidden(*c)) {
        return Err(TextError::Control {
            code: u32::from(c),
            at: i + 1,
        });
    }
    let len = s.chars().count();
    if len > MAX_TEXT {
        return Err(TextError::TooLong { len });
    }
    Ok(())
}

/// Text from a document, file or peer made safe for a terminal: every character that
/// [`check_text`] refuses is shown as its code (`\u{1b}`), so stored data can never move
/// the cursor, clear the screen or reorder a line it is printed on. Applied at every
/// terminal output of names and bodies, even though input refuses them, because a
/// document sealed by another node or an older release may still hold them.
pub fn for_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(forbidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if forbidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`for_terminal`] for text of several lines (a report): line breaks are kept, every
/// other control or direction character is shown as its code.
pub fn for_terminal_lines(s: &str) -> String {
    s.split('\n')
        .map(for_terminal)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every string inside a JSON value made safe for a terminal, for printers that read
/// their values out of a query's JSON (`tinnhiem-hub person`, `flagged`, `result`, …).
pub fn for_terminal_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(for_terminal(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(for_terminal_json).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (for_terminal(k).into_owned(), for_terminal_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_control_or_override_characters_are_refused_and_escaped() {
        assert!(check_text("Nguyễn Văn A").is_ok());
        assert_eq!(
            check_text("Nguyễn\u{1b}[2J"),
            Err(TextError::Control { code: 0x1b, at: 7 })
        );
        assert!(check_text("A\u{202e}B").is_err());
        assert!(check_text("A\nB").is_err());
        assert!(check_text(&"a".repeat(MAX_TEXT)).is_ok());
        assert_eq!(
            check_text(&"ư".repeat(MAX_TEXT + 1)),
            Err(TextError::TooLong { len: MAX_TEXT + 1 })
        );
        assert_eq!(for_terminal("A\u{1b}[2J\u{202e}B"), "A\\u{1b}[2J\\u{202e}B");
        assert_eq!(for_terminal("Lò Văn Mạnh"), "Lò Văn Mạnh");
        assert_eq!(for_terminal_lines("A\u{1b}c\nB"), "A\\u{1b}c\nB");
        let v = serde_json::json!({"people": [{"name": "X\u{1b}[2J"}], "n": 3});
        assert_eq!(for_terminal_json(&v)["people"][0]["name"], "X\\u{1b}[2J");
    }
}
