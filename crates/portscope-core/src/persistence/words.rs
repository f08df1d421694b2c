//! A small shell-word splitter for launcher lines: enough of sh(1) to tell which words a line
//! *runs* (the first word of each command, after `exec`, `nohup`, `sudo`… and the script an
//! interpreter is given) from the words it passes as arguments. Quotes are removed, `;`, `&`,
//! `|`, `(`, `)`, `` ` `` and `$(` start a new command, and the string of `sh -c '…'` is split
//! again (to a bounded depth). It never fails: whatever it does not understand is a plain word.

/// One word of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word with its quotes removed.
    pub text: String,
    /// Whether the line runs it: a command, or the script an interpreter runs.
    pub runs: bool,
}

/// Nested `sh -c` strings split at most this deep.
const MAX_DEPTH: usize = 3;
/// Words kept from one line (a hostile line cannot make the splitter allocate without end).
const MAX_WORDS: usize = 512;

/// Programs that run the next word as a command.
const LAUNCHERS: &[&str] = &[
    "exec",
    "nohup",
    "setsid",
    "sudo",
    "doas",
    "env",
    "nice",
    "ionice",
    "timeout",
    "stdbuf",
    "chrt",
    "taskset",
    "time",
    "command",
    "builtin",
    "runuser",
    "chroot",
    "daemonize",
    "start-stop-daemon",
    "flock",
    "xargs",
    "watch",
    "screen",
    "tmux",
    "systemd-run",
    "busybox",
];

/// Launchers' options that take a value (`sudo -u USER`, `nice -n 10`, `timeout -s KILL`).
const VALUE_OPTIONS: &[&str] = &[
    "-u", "-g", "-n", "-c", "-p", "-k", "-s", "-t", "-U", "-C", "-D", "-S", "--user", "--group", "--chdir",
];

/// Whether a program's file name names a script interpreter (`python3.11`, `perl`, `bash`…):
/// its first word that is not an option is the script it runs.
pub fn is_interpreter(name: &str) -> bool {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    matches!(
        base,
        "python"
            | "pypy"
            | "perl"
            | "ruby"
            | "node"
            | "nodejs"
            | "php"
            | "lua"
            | "luajit"
            | "tclsh"
            | "Rscript"
            | "bash"
            | "sh"
            | "dash"
            | "zsh"
            | "ksh"
            | "mksh"
            | "ash"
            | "fish"
            | "java"
            | "deno"
            | "bun"
    )
}

/// Whether an interpreter's option makes it run inline code, not a file (`-c`, `-e`, `-m`).
pub fn is_inline_option(arg: &str) -> bool {
    matches!(arg, "-c" | "-e" | "-E" | "-m" | "-r" | "--eval" | "-Command")
}

/// Splits one command line into words, marking those it runs.
pub fn split(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    split_into(line, 0, &mut out);
    out
}

/// What the next word is, as the splitter walks a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A command (start of line, after an operator or a launcher).
    Command,
    /// An interpreter's argument: options, then the script it runs.
    Script,
    /// The string a shell's `-c` runs.
    ShellString,
    Argument,
}

fn split_into(line: &str, depth: usize, out: &mut Vec<Word>) {
    let mut expect = Expect::Command;
    let mut shell = false;
    let mut after_launcher = false;
    let mut skip_value = false;
    for token in tokens(line) {
        if out.len() >= MAX_WORDS {
            return;
        }
        let Token::Word(text) = token else {
            expect = Expect::Command;
            after_launcher = false;
            skip_value = false;
            continue;
        };
        match expect {
            Expect::Command => {
                let assignment = text.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
                let option = text.starts_with('-') || text.bytes().all(|b| b.is_ascii_digit());
                if skip_value || assignment || (after_launcher && option) {
                    skip_value = !skip_value && after_launcher && VALUE_OPTIONS.contains(&text.as_str());
                    out.push(Word { text, runs: false });
                    continue;
                }
                let name = text.rsplit('/').next().unwrap_or(&text).to_string();
                shell = matches!(
                    name.trim_end_matches(|c: char| c.is_ascii_digit()),
                    "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "mksh" | "su" | "busybox"
                );
                after_launcher = LAUNCHERS.contains(&name.as_str());
                expect = if after_launcher {
                    Expect::Command
                } else if is_interpreter(&name) || name == "su" {
                    Expect::Script
                } else {
                    Expect::Argument
                };
                out.push(Word { text, runs: true });
            }
            Expect::Script => {
                if shell && text == "-c" {
                    expect = Expect::ShellString;
                    out.push(Word { text, runs: false });
                } else if is_inline_option(&text) {
                    expect = Expect::Argument;
                    out.push(Word { text, runs: false });
                } else if text.starts_with('-') {
                    out.push(Word { text, runs: false });
                } else {
                    expect = Expect::Argument;
                    out.push(Word { text, runs: true });
                }
            }
            Expect::ShellString => {
                expect = Expect::Argument;
                if depth < MAX_DEPTH {
                    split_into(&text, depth + 1, out);
                } else {
                    out.push(Word { text, runs: false });
                }
            }
            Expect::Argument => out.push(Word { text, runs: false }),
        }
    }
}

enum Token {
    Word(String),
    /// `;`, `&`, `|`, `(`, `)`, a backquote, `$(` or a newline: a new command starts.
    Break,
}

/// The words and command breaks of `line`, with quotes removed and backslashes applied.
fn tokens(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, out: &mut Vec<Token>| {
        if *in_word {
            out.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '#' if !in_word => {
                // A comment to the end of the line.
                break;
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                flush(&mut word, &mut in_word, &mut out);
                out.push(Token::Break);
            }
            '&' if chars.peek() == Some(&'>') => {
                // `&>file`: a redirection of both outputs, not a background `&`.
                flush(&mut word, &mut in_word, &mut out);
            }
            ';' | '&' | '|' | '(' | ')' | '`' | '\n' => {
                flush(&mut word, &mut in_word, &mut out);
                out.push(Token::Break);
            }
            '<' | '>' => {
                // A redirection: its target is an argument, never a command (`2>&1` included).
                flush(&mut word, &mut in_word, &mut out);
                if chars.peek() == Some(&'&') {
                    chars.next();
                }
            }
            c if c.is_whitespace() => flush(&mut word, &mut in_word, &mut out),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut in_word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(line: &str) -> Vec<String> {
        split(line)
            .into_iter()
            .filter(|w| w.runs)
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn commands_after_operators_launchers_and_interpreters_run() {
        assert_eq!(runs("/tmp/x --port 80"), ["/tmp/x"]);
        assert_eq!(
            runs("cd /opt && ./srv -d; nohup /tmp/.y >/dev/null 2>&1 &"),
            ["cd", "./srv", "nohup", "/tmp/.y"]
        );
        assert_eq!(
            runs("FOO=1 BAR=2 /usr/bin/python3 -u /tmp/x.py arg"),
            ["/usr/bin/python3", "/tmp/x.py"]
        );
        assert_eq!(
            runs("/bin/sh -c '/tmp/a; exec \"/tmp/b c\"'"),
            ["/bin/sh", "/tmp/a", "exec", "/tmp/b c"]
        );
        assert_eq!(runs("python3 -c 'import os' /tmp/not-a-script"), ["python3"]);
        assert_eq!(runs("echo /tmp/x # /tmp/y"), ["echo"]);
        assert_eq!(runs("x=$(/tmp/z)"), ["/tmp/z"]);
        assert_eq!(runs("sudo -u alice /tmp/q"), ["sudo", "/tmp/q"]);
        assert_eq!(
            runs("/tmp/a 2>&1 >/dev/null; /tmp/b &>/dev/null &"),
            ["/tmp/a", "/tmp/b"]
        );
        assert_eq!(runs("env FOO=1 /tmp/c %U"), ["env", "/tmp/c"]);
        assert_eq!(runs("nice -n 10 timeout 5 /tmp/d"), ["nice", "timeout", "/tmp/d"]);
    }

    #[test]
    fn hostile_lines_end_without_panic() {
        for line in [
            "'unterminated",
            "\"a\\",
            "\\",
            "$(",
            "sh -c",
            "sh -c 'sh -c \"sh -c \\\"sh -c x\\\"\"'",
        ] {
            let _ = split(line);
        }
        let long = "a ".repeat(10_000);
        assert!(split(&long).len() <= MAX_WORDS);
    }
}
