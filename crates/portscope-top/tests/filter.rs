//! `top --filter`: the filter language narrows the live view's rows the way it narrows `list`'s,
//! on a recorded host, and the typed `/` filter narrows further.

use std::time::Duration;

use portscope_core::audit;
use portscope_core::filter::Expression;
use portscope_core::inspect;
use portscope_core::knowledge::ServiceNames;
use portscope_fixture::FixturePlatform;
use portscope_top::app::App;
use portscope_top::source::Source;
use portscope_top::view::Line;

fn rows(platform: &FixturePlatform, filter: &str) -> Vec<u16> {
    let names = ServiceNames::iana();
    let options = audit::Options {
        deep: false,
        allow: Vec::new(),
        names: names.clone(),
    };
    let source = Source::new(platform, inspect::Options::ports(options));
    let mut app = App::new(source, names, Duration::from_secs(1), false);
    app.view.expression = Some(Expression::parse(filter).expect("filter parses"));
    app.refresh(Duration::ZERO);
    let mut ports: Vec<u16> = app
        .view
        .lines()
        .iter()
        .filter_map(|line| match line {
            Line::Row(key) => Some(key.local.port),
            Line::Group { .. } => None,
        })
        .collect();
    ports.sort();
    ports
}

#[test]
fn the_filter_language_narrows_the_view() {
    let path = format!("{}/tests/hosts/busy.toml", env!("CARGO_MANIFEST_DIR"));
    let platform = FixturePlatform::load(std::path::Path::new(&path)).expect("fixture loads");
    assert_eq!(rows(&platform, "program = nginx"), [80, 80]);
    assert_eq!(rows(&platform, "port = 80 and state = listening"), [80]);
    assert_eq!(rows(&platform, "pid = 4100"), [8080, 18443]);
    assert_eq!(
        rows(&platform, "exe ~ '/tmp/*' or exe ~ '/home/*'"),
        [9999, 40312]
    );
    assert!(rows(&platform, "verdict >= warning").contains(&40312));
    assert_eq!(rows(&platform, "service = ssh"), [22]);
}
