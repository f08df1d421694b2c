//! Trees for people (`list --tree`): each node on its own line under its parent, drawn with
//! box-drawing branches, the lines that belong to a node (its sockets) indented beneath it.
//! Labels and lines come from processes, so every one passes through the rendering layer.

use std::io::{self, Write};

/// One node: its label, the lines shown under it, and its children.
#[derive(Debug, Default)]
pub struct Node {
    pub label: String,
    pub lines: Vec<String>,
    pub children: Vec<Node>,
}

pub fn write(out: &mut impl Write, roots: &[Node]) -> io::Result<()> {
    for root in roots {
        writeln!(out, "{}", crate::render::escape(&root.label))?;
        body(out, root, "")?;
    }
    Ok(())
}

/// Writes a node's lines and children, each line after `prefix` (the branches of its ancestors).
fn body(out: &mut impl Write, node: &Node, prefix: &str) -> io::Result<()> {
    let more = if node.children.is_empty() { "   " } else { "│  " };
    for line in &node.lines {
        writeln!(out, "{prefix}{more}{}", crate::render::escape(line))?;
    }
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == node.children.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        writeln!(out, "{prefix}{branch}{}", crate::render::escape(&child.label))?;
        body(out, child, &format!("{prefix}{next}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_hang_under_their_parent_and_labels_are_escaped() {
        let tree = [Node {
            label: "1 systemd".into(),
            lines: vec![],
            children: vec![
                Node {
                    label: "812 sshd".into(),
                    lines: vec!["tcp 0.0.0.0:22 LISTEN".into()],
                    children: vec![Node {
                        label: "4300 sshd\x1b[2J".into(),
                        lines: vec!["tcp 198.18.0.1:22 ESTAB".into()],
                        children: vec![],
                    }],
                },
                Node {
                    label: "900 nginx".into(),
                    lines: vec![],
                    children: vec![],
                },
            ],
        }];
        let mut out = Vec::new();
        write(&mut out, &tree).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1 systemd\n\
             ├─ 812 sshd\n\
             │  │  tcp 0.0.0.0:22 LISTEN\n\
             │  └─ 4300 sshd\\e[2J\n\
             │        tcp 198.18.0.1:22 ESTAB\n\
             └─ 900 nginx\n"
        );
    }
}
