//! The screen's symbols and their ASCII stand-ins, in one place: with `--ascii`, or when the
//! locale is not UTF-8, every drawn cell that is not ASCII is replaced after drawing, so marks,
//! the traffic bar, sparklines and borders stay readable through any terminal.
//!
//! Replacing after drawing (rather than choosing a symbol at each call site) means no symbol
//! can slip through: an event sentence or a plan name with `→` or `≠` is covered too. Every
//! stand-in is one cell, like the symbol it replaces, so the layout does not move.

use ratatui::buffer::Buffer;

/// Each symbol the views draw and its one-cell ASCII stand-in.
const STAND_INS: &[(&str, &str)] = &[
    // Marks: done, failed, warning/breaching, unknown, running, current, up, not polled.
    ("✓", "+"),
    ("✗", "x"),
    ("▲", "!"),
    ("◐", "!"),
    ("●", "*"),
    ("○", "o"),
    ("▶", ">"),
    ("■", "#"),
    ("↷", "/"),
    ("◀", "<"),
    ("▸", ">"),
    ("⚑", "@"),
    ("·", "."),
    ("—", "-"),
    ("–", "-"),
    ("…", "~"),
    ("→", ">"),
    ("←", "<"),
    ("↑", "^"),
    ("↓", "v"),
    ("×", "x"),
    ("≠", "#"),
    ("≥", ">"),
    ("≤", "<"),
    ("▏", "|"),
    // The traffic bar: the stable side solid, the new version light.
    ("░", "="),
    // Sparkline bars, low to high (the full block is also the bar's stable side).
    ("▁", "_"),
    ("▂", "."),
    ("▃", "-"),
    ("▄", "="),
    ("▅", "+"),
    ("▆", "*"),
    ("▇", "%"),
    ("█", "#"),
    // Borders, as ratatui's ASCII border set would draw them.
    ("─", "-"),
    ("│", "|"),
    ("┌", "+"),
    ("┐", "+"),
    ("└", "+"),
    ("┘", "+"),
    ("├", "+"),
    ("┤", "+"),
    ("┬", "+"),
    ("┴", "+"),
    ("┼", "+"),
];

/// The ASCII stand-in for a cell's symbol: itself when ASCII, its stand-in when it has one,
/// else `?` (a name in another script cannot be shown through a non-UTF-8 terminal).
pub fn ascii(symbol: &str) -> &str {
    if symbol.is_ascii() {
        return symbol;
    }
    STAND_INS.iter().find(|(s, _)| *s == symbol).map_or("?", |(_, a)| a)
}

/// Replaces every non-ASCII cell of a drawn frame with its stand-in.
pub fn to_ascii(buffer: &mut Buffer) {
    for cell in &mut buffer.content {
        let symbol = cell.symbol();
        if !symbol.is_ascii() {
            let stand_in = ascii(symbol).to_owned();
            cell.set_symbol(&stand_in);
        }
    }
}

/// Whether the locale asks for UTF-8: the first of `LC_ALL`, `LC_CTYPE` and `LANG` that is set
/// (and not empty) decides, as the C library does; none set is the POSIX locale, not UTF-8.
pub fn locale_is_utf8(lc_all: Option<&str>, lc_ctype: Option<&str>, lang: Option<&str>) -> bool {
    let Some(locale) = [lc_all, lc_ctype, lang].into_iter().flatten().find(|v| !v.is_empty())
    else {
        return false;
    };
    let lower = locale.to_ascii_lowercase();
    lower.contains("utf-8") || lower.contains("utf8")
}

/// Whether this process should draw in ASCII: asked for, or the locale is not UTF-8.
pub fn ascii_wanted(flag: bool) -> bool {
    let var = |name: &str| std::env::var(name).ok();
    flag || !locale_is_utf8(
        var("LC_ALL").as_deref(),
        var("LC_CTYPE").as_deref(),
        var("LANG").as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_locale_variable_set_decides() {
        assert!(locale_is_utf8(None, None, Some("en_US.UTF-8")));
        assert!(locale_is_utf8(None, None, Some("C.utf8")));
        assert!(!locale_is_utf8(Some("C"), None, Some("en_US.UTF-8")), "LC_ALL wins");
        assert!(locale_is_utf8(Some(""), Some("de_DE.UTF-8"), Some("C")), "empty is unset");
        assert!(!locale_is_utf8(None, None, None), "no locale is POSIX");
        assert!(!locale_is_utf8(None, None, Some("en_US.ISO-8859-1")));
    }

    #[test]
    fn every_stand_in_is_one_ascii_cell() {
        for (symbol, stand_in) in STAND_INS {
            assert!(stand_in.is_ascii() && stand_in.len() == 1, "{symbol} -> {stand_in}");
            assert_eq!(ascii(symbol), *stand_in);
        }
        assert_eq!(ascii("a"), "a");
        assert_eq!(ascii("é"), "?");
    }
}
