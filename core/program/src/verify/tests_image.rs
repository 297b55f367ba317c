//! Image-wide checks: ids across programs, canaries, error pages.

use std::sync::Arc;

use super::tests::prog;
use super::*;
use crate::field::Field;
use crate::image::{ErrorPage, PluginSpec, RoutePlan, Upstream};
use crate::op::NO_REG;

const FORWARD: Op = Op::Forward {
    up: 0,
    hash: NO_REG,
};

fn route(name: &str, request: Program, response: Option<Program>) -> RoutePlan {
    RoutePlan {
        name: name.into(),
        method: "GET".into(),
        pattern: "/t/{id}".into(),
        params: vec!["id".into()],
        request: Arc::new(request),
        response: response.map(Arc::new),
        ..RoutePlan::default()
    }
}

fn image(routes: Vec<RoutePlan>) -> ConfigImage {
    let upstream = Upstream {
        name: "pets".into(),
        servers: vec![],
        balance: Default::default(),
        connect_timeout: None,
        request_timeout: None,
        health: None,
        max_fails: 3,
        fail_on: Default::default(),
        fail_timeout: 10_000,
        host_header: None,
    };
    let spec = PluginSpec {
        plugin: "throttle".into(),
        state_key: "GET /t#0".into(),
        args: vec![],
        origin: "t.gw:1:1".into(),
    };
    ConfigImage {
        upstreams: vec![upstream],
        plugins: vec![spec],
        routes,
        ..ConfigImage::default()
    }
}

#[test]
fn images_check_ids_across_programs() {
    let split = |canary| {
        prog(
            0,
            vec![],
            vec![
                Op::Split {
                    canary,
                    sticky: NO_REG,
                    threshold: 1,
                    off: 0,
                },
                FORWARD,
            ],
        )
    };
    let path = prog(
        1,
        vec![],
        vec![
            Op::LdField {
                dst: 0,
                field: Field::PathParam(0),
            },
            FORWARD,
        ],
    );
    let resp = prog(
        0,
        vec![],
        vec![
            Op::Call {
                slot: 0,
                arg: 0,
                argc: 0,
            },
            Op::Done,
        ],
    );
    let ok = image(vec![
        route("a", split(0), Some(resp)),
        route("b", split(1), None),
        route("c", path, None),
    ]);
    assert_eq!(verify_image(&ok), Ok(()));

    let dup = image(vec![route("a", split(0), None), route("b", split(0), None)]);
    let err = verify_image(&dup).unwrap_err();
    assert_eq!(
        (err.program.as_str(), err.reason),
        ("route GET /t", Reason::DuplicateCanary { id: 0 })
    );

    let far = image(vec![route(
        "a",
        prog(
            0,
            vec![],
            vec![Op::Forward {
                up: 1,
                hash: NO_REG,
            }],
        ),
        None,
    )]);
    assert_eq!(
        verify_image(&far).unwrap_err().reason,
        Reason::BadUpstream { up: 1 }
    );

    let mut bad_page = image(vec![]);
    let page = prog(0, vec![], vec![Op::Done]);
    bad_page.error_pages.push(ErrorPage {
        statuses: vec![429, 700],
        program: Arc::new(page),
    });
    assert_eq!(
        verify_image(&bad_page).unwrap_err().reason,
        Reason::BadStatus { status: 700 }
    );
}
