//! What a Windows process says about itself, as text and numbers: its command line split into
//! arguments, its creation time, and whether its image is one of the system processes close must
//! never stop. Pure, so the host test suite checks it.

/// Splits a command line into arguments by the rules of `CommandLineToArgvW` and the C runtime:
/// the program name ends at the first space or tab unless quoted (no escapes in it); after it,
/// 2n backslashes before a `"` are n backslashes and the quote toggles quoting, 2n+1 backslashes
/// before a `"` are n backslashes and a literal quote, other backslashes are literal, and `""`
/// inside quotes is a literal quote. Bounded by its input: every step consumes a character.
pub fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    // The program name.
    let mut program = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        for c in chars.by_ref() {
            if c == '"' {
                break;
            }
            program.push(c);
        }
    } else {
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\t' {
                break;
            }
            program.push(c);
            chars.next();
        }
    }
    if program.is_empty() && line.is_empty() {
        return args;
    }
    args.push(program);
    loop {
        while matches!(chars.peek(), Some(' ' | '\t')) {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                ' ' | '\t' if !quoted => break,
                '\\' => {
                    let mut slashes = 0;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        slashes += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', slashes / 2));
                        if slashes % 2 == 1 {
                            arg.push('"');
                            chars.next();
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', slashes));
                    }
                }
                '"' => {
                    chars.next();
                    if quoted && chars.peek() == Some(&'"') {
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                }
                c => {
                    arg.push(c);
                    chars.next();
                }
            }
        }
        args.push(arg);
    }
}

/// 100-nanosecond intervals between 1601-01-01 (a `FILETIME`'s epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A `FILETIME` (100 ns since 1601) as whole seconds since the Unix epoch; `None` before 1970
/// (a zero `FILETIME`: the System process has no creation time).
pub fn filetime_to_unix_secs(filetime: u64) -> Option<u64> {
    filetime
        .checked_sub(FILETIME_UNIX_EPOCH)
        .filter(|_| filetime != 0)
        .map(|t| t / 10_000_000)
}

/// The system processes close refuses, by image name. Windows cannot run without them: stopping
/// csrss, wininit, smss or lsass crashes the machine, stopping services stops every service.
pub const CRITICAL_IMAGES: &[&str] = &[
    "smss.exe",
    "csrss.exe",
    "wininit.exe",
    "services.exe",
    "lsass.exe",
];

/// Which critical system process the image at `exe` is: one of [`CRITICAL_IMAGES`] in the
/// system directory `system32` (`C:\Windows\System32`, compared without case, as Windows compares
/// paths). A file of that name elsewhere is not the system's (and is what the masquerade rule
/// looks for), so close may stop it.
pub fn critical_image(exe: &str, system32: &str) -> Option<&'static str> {
    let (dir, name) = exe.rsplit_once('\\')?;
    let system32 = system32.trim_end_matches('\\');
    if !dir.eq_ignore_ascii_case(system32) {
        return None;
    }
    CRITICAL_IMAGES
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_command_line(line)
    }

    #[test]
    fn command_lines_split_as_the_c_runtime_splits_them() {
        assert_eq!(split(r#"C:\a\b.exe x y"#), ["C:\\a\\b.exe", "x", "y"]);
        assert_eq!(
            split(r#""C:\Program Files\x.exe" "a b"  c"#),
            ["C:\\Program Files\\x.exe", "a b", "c"]
        );
        // 2n+1 backslashes before a quote: n backslashes and a literal quote.
        assert_eq!(split(r#"p a\"b"#), ["p", "a\"b"]);
        // 2n backslashes before a quote: n backslashes, the quote toggles.
        assert_eq!(split(r#"p "a\\" b"#), ["p", "a\\", "b"]);
        // Backslashes not before a quote are literal.
        assert_eq!(split(r#"p C:\dir\ x"#), ["p", "C:\\dir\\", "x"]);
        assert_eq!(split(r#"p "say ""hi""""#), ["p", "say \"hi\""]);
        // The program name takes no escapes.
        assert_eq!(split(r#""C:\x\" y"#), ["C:\\x\\", "y"]);
        assert_eq!(split("prog"), ["prog"]);
        assert_eq!(split("p \t "), ["p"]);
        assert!(split("").is_empty());
        assert_eq!(split(r#"p """#), ["p", ""]);
    }

    #[test]
    fn filetimes_become_unix_seconds() {
        assert_eq!(filetime_to_unix_secs(FILETIME_UNIX_EPOCH), Some(0));
        assert_eq!(
            filetime_to_unix_secs(FILETIME_UNIX_EPOCH + 17_000_000_000 * 10_000_000 + 9_999_999),
            Some(17_000_000_000)
        );
        assert_eq!(filetime_to_unix_secs(0), None);
        assert_eq!(filetime_to_unix_secs(12345), None);
    }

    #[test]
    fn only_the_system_directorys_images_are_critical() {
        let sys = r"C:\Windows\System32";
        assert_eq!(
            critical_image(r"C:\Windows\System32\csrss.exe", sys),
            Some("csrss.exe")
        );
        assert_eq!(
            critical_image(r"c:\windows\system32\LSASS.EXE", sys),
            Some("lsass.exe")
        );
        assert_eq!(
            critical_image(r"C:\Windows\System32\services.exe", r"C:\Windows\System32\"),
            Some("services.exe")
        );
        assert_eq!(
            critical_image(r"C:\Users\Public\lsass.exe", sys),
            None,
            "a masquerade"
        );
        assert_eq!(critical_image(r"C:\Windows\System32\svchost.exe", sys), None);
        assert_eq!(critical_image("lsass.exe", sys), None);
    }
}
