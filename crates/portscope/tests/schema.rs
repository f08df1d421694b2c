//! Every command's JSON against the one documented model, docs/portscope.schema.json (JSON
//! Schema 2020-12, checked with Debian's python3-jsonschema): a field renamed or retyped in one
//! command and not in the schema fails here.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::{Guard, Netns, first_line, portscope_in, run, skip_without_root};

const PYTHON: &str = "/usr/bin/python3";

/// Validates `json` against `$defs/<definition>`; panics with the validator's first errors.
pub(crate) fn validate(definition: &str, json: &[u8]) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/portscope.schema.json");
    let script = format!(
        "import json,sys\n\
         try:\n    import jsonschema\n\
         except ImportError:\n    sys.exit('python3-jsonschema is not installed (.ci/run installs it)')\n\
         schema=json.load(open({schema:?}))\n\
         jsonschema.Draft202012Validator.check_schema(schema)\n\
         v=jsonschema.Draft202012Validator(dict(schema, **{{'$ref':'#/$defs/{definition}'}}))\n\
         data=sys.stdin.read()\n\
         docs=[json.loads(l) for l in data.splitlines() if l.strip()] if {lines} else [json.loads(data)]\n\
         errs=[e for d in docs for e in v.iter_errors(d)]\n\
         [print(list(e.absolute_path), e.message[:300]) for e in errs[:5]]\n\
         sys.exit(1 if errs else 0)\n",
        lines = if definition == "watch_event" {
            "True"
        } else {
            "False"
        },
    );
    let mut child = Command::new(PYTHON)
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(json).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{definition} does not match the schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace with a listener, a connection to it and a process whose name is hostile bytes.
fn scene() -> (Netns, Guard, String) {
    let ns = Netns::new("schema");
    let script = "import socket,time,ctypes\n\
                  ctypes.CDLL(None).prctl(15,b'x\\x1b[2K\\xff',0,0,0)\n\
                  s=socket.socket();s.bind(('127.0.0.1',0));s.listen(8)\n\
                  c=socket.create_connection(s.getsockname());a=s.accept()\n\
                  print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n";
    let mut guard = Guard::spawn(ns.command(PYTHON).args(["-c", script]).stdout(Stdio::piped()));
    let port = first_line(&mut guard);
    (ns, guard, port)
}

#[test]
fn list_explain_and_audit_json_match_the_schema() {
    if skip_without_root("list_explain_and_audit_json_match_the_schema") {
        return;
    }
    let (ns, _guard, port) = scene();
    for args in [
        &["list", "--json"][..],
        &["list", "--json", "-A", "--all"],
        &["list", "-l", "--json", "-p", &port],
        &["list", "-l", "--why", "--json"],
    ] {
        let out = run(portscope_in(&ns).args(args));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        validate("list", &out.stdout);
    }
    // The summary has a shape of its own; --format json and --sort change nothing in the rows'.
    let out = run(portscope_in(&ns).args(["list", "--summary", "--format", "json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    validate("list_summary", &out.stdout);
    let out = run(portscope_in(&ns).args(["list", "--format", "json", "--sort", "state,port"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    validate("list", &out.stdout);
    let out = run(portscope_in(&ns).args(["explain", &port, "--json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    validate("explain", &out.stdout);
    // audit exits 1 on an alert; its JSON is the same model either way.
    let out = run(portscope_in(&ns).args(["audit", "--json"]));
    validate("audit", &out.stdout);
}

#[test]
fn close_plan_and_watch_events_match_the_schema() {
    if skip_without_root("close_plan_and_watch_events_match_the_schema") {
        return;
    }
    let (ns, _guard, port) = scene();
    let out = run(portscope_in(&ns).args(["close", &port, "--dry-run", "--json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    validate("close", &out.stdout);

    // A watcher that sees one listener open after its first look (it says "watching" then, so a
    // loaded machine cannot fold the listener into that look), then stops.
    let watch = super::watch::Watch::start(&ns, &["--no-history"]);
    let _opened = Guard::spawn(ns.command(PYTHON).args([
        "-c",
        "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\ntime.sleep(30)\n",
    ]));
    let mut events = vec![watch.next_event()];
    events.extend(watch.stop());
    assert!(events.iter().any(|e| e["event"] == "opened"), "{events:?}");
    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    validate("watch_event", lines.as_bytes());
}
