//! The directories of a Windows host where any user can drop a program (the places a trojan
//! runs from), and those only administrators can write to. Pure: the roots come from the
//! environment in the platform and from a test here.

use std::path::{Path, PathBuf};

/// The roots that decide, as the environment names them (`%TEMP%`, `%APPDATA%`, …).
#[derive(Clone, Debug, Default)]
pub struct Roots {
    pub temp: Vec<PathBuf>,
    pub appdata: Vec<PathBuf>,
    /// `%USERPROFILE%`: its `Downloads` is a drop.
    pub profile: Option<PathBuf>,
    /// `%PUBLIC%` (`C:\Users\Public`).
    pub public: Option<PathBuf>,
    /// `%ProgramData%` (`C:\ProgramData`): users may create directories there.
    pub program_data: Option<PathBuf>,
    pub system_root: Option<PathBuf>,
    pub program_files: Vec<PathBuf>,
}

/// A path for comparison: lower case, `\` separators, no `\\?\` prefix, no trailing `\`.
pub fn normalise(path: &str) -> String {
    let path = path.replace('/', "\\").to_lowercase();
    let path = path.strip_prefix(r"\\?\").unwrap_or(&path);
    path.trim_end_matches('\\').to_string()
}

fn under(path: &str, root: &Path) -> bool {
    let root = normalise(&root.to_string_lossy());
    !root.is_empty()
        && (path == root
            || path
                .strip_prefix(&root)
                .is_some_and(|rest| rest.starts_with('\\')))
}

/// Whether the directory holding `file` is user-writable: `Some(true)` in a drop, `Some(false)`
/// in the system or program directories, `None` when the list does not say.
pub fn classify(file: &Path, roots: &Roots) -> Option<bool> {
    let text = normalise(&file.to_string_lossy());
    let dir = match text.rsplit_once('\\') {
        Some((dir, _)) => dir.to_string(),
        None => return None,
    };
    let downloads = roots.profile.as_ref().map(|p| p.join("Downloads"));
    let drops = roots
        .temp
        .iter()
        .chain(&roots.appdata)
        .chain(downloads.as_ref())
        .chain(roots.public.as_ref())
        .chain(roots.program_data.as_ref());
    for root in drops {
        if under(&dir, root) {
            return Some(true);
        }
    }
    // %SystemRoot%\Temp and the spooler's drop are the system's own user-writable places.
    if let Some(system) = &roots.system_root {
        let writable = [
            system.join("Temp"),
            system.join(r"System32\spool\drivers\color"),
            system.join("Tasks"),
        ];
        if writable.iter().any(|w| under(&dir, w)) {
            return Some(true);
        }
        if under(&dir, system) {
            return Some(false);
        }
    }
    roots
        .program_files
        .iter()
        .any(|p| under(&dir, p))
        .then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Roots {
        Roots {
            temp: vec![r"C:\Users\ann\AppData\Local\Temp".into()],
            appdata: vec![
                r"C:\Users\ann\AppData\Roaming".into(),
                r"C:\Users\ann\AppData\Local".into(),
            ],
            profile: Some(r"C:\Users\ann".into()),
            public: Some(r"C:\Users\Public".into()),
            program_data: Some(r"C:\ProgramData".into()),
            system_root: Some(r"C:\Windows".into()),
            program_files: vec![r"C:\Program Files".into(), r"C:\Program Files (x86)".into()],
        }
    }

    #[test]
    fn the_usual_drops_are_user_writable_and_system_dirs_are_not() {
        let r = roots();
        let c = |p: &str| classify(Path::new(p), &r);
        assert_eq!(c(r"C:\Users\ann\AppData\Local\Temp\x\svchost.exe"), Some(true));
        assert_eq!(c(r"c:\users\ann\appdata\roaming\evil.exe"), Some(true));
        assert_eq!(c(r"C:\Users\ann\Downloads\setup.exe"), Some(true));
        assert_eq!(c(r"C:\Users\Public\lsass.exe"), Some(true));
        assert_eq!(c(r"\\?\C:\ProgramData\Updater\up.exe"), Some(true));
        assert_eq!(c(r"C:\Windows\Temp\a.exe"), Some(true));
        assert_eq!(c(r"C:\Windows\System32\svchost.exe"), Some(false));
        assert_eq!(c(r"C:\Program Files\App\app.exe"), Some(false));
        assert_eq!(
            c(r"C:\Users\ann\Documents\tool.exe"),
            None,
            "not in the list: unknown"
        );
        assert_eq!(c(r"C:\ProgramDataX\a.exe"), None, "a prefix is not a parent");
        assert_eq!(c("bare.exe"), None);
    }
}
