//! Every validation error: each reported with its key path and value, all at once.

use super::{assert_errors, errors, load, UPSTREAM};

#[test]
fn top_level_errors_are_all_reported() {
    assert_errors(
        &format!(
            "listen = \"nope\"\n{UPSTREAM}[admin]\nlisten = \"x\"\nauth_file = \"\"\n\
             [limits]\nheader_read_timeout = \"5 s\"\nidle_timeout = \"0s\"\nmax_header_bytes = 100\nshutdown_timeout = \"1d\"\n"
        ),
        &[
            "listen: \"nope\" is not an address",
            "admin.listen: \"x\" is not an address (expected IP:PORT, for example 127.0.0.1:8080) or \"off\"",
            "admin.auth_file: \"\" is not a file name",
            "limits.header_read_timeout: \"5 s\" is not a duration",
            "limits.idle_timeout: \"0s\" must be greater than zero",
            "limits.max_header_bytes: 100 must be at least 8192",
            "limits.shutdown_timeout: \"1d\" is not a duration",
        ],
    );
}

#[test]
fn the_mirror_memory_budget_is_at_least_one_mib() {
    assert_errors(
        &format!("{UPSTREAM}[limits]\nmirror_memory_bytes = 1048575\n"),
        &["limits.mirror_memory_bytes: 1048575 must be at least 1048576"],
    );
    let s = load(&format!(
        "{UPSTREAM}[limits]\nmirror_memory_bytes = 1048576\n"
    ))
    .unwrap();
    assert_eq!(s.limits.mirror_memory_bytes, 1 << 20);
    assert_eq!(
        load(UPSTREAM).unwrap().limits.mirror_memory_bytes,
        256 << 20
    );
}

#[test]
fn admin_off_disables_the_admin_listener() {
    let s = load(&format!("{UPSTREAM}[admin]\nlisten = \"off\"\n")).unwrap();
    assert_eq!(s.admin, None);
}

#[test]
fn admin_allowed_hosts_and_max_runtime_targets_are_checked() {
    assert_errors(
        &format!(
            "{UPSTREAM}[admin]\nallowed_hosts = [\"ok.example:8443\", \"http://evil.example\", \"a:99999\"]\n\
             max_runtime_targets = 10001\n"
        ),
        &[
            "admin.allowed_hosts[1]: \"http://evil.example\" is not a host",
            "admin.allowed_hosts[2]: \"a:99999\" has a bad port",
            "admin.max_runtime_targets: 10001 is more than the largest allowed, 10000",
        ],
    );
    let s = load(&format!(
        "{UPSTREAM}[admin]\nallowed_hosts = [\"Admin.Example\"]\nmax_runtime_targets = 0\n"
    ))
    .unwrap();
    assert_eq!(s.admin_allowed_hosts, ["Admin.Example"]);
    assert_eq!(s.max_runtime_targets, 0);
    let s = load(UPSTREAM).unwrap();
    assert_eq!(s.max_runtime_targets, 64);
}

#[test]
fn a_mirror_at_the_proxys_own_listener_is_refused_naming_it() {
    assert_errors(
        &format!(
            "listen = \"0.0.0.0:8080\"\n{UPSTREAM}[admin]\nlisten = \"127.0.0.1:9901\"\n\
             [mirrors.loop]\nurl = \"http://localhost:8080\"\n\
             [mirrors.admin]\nurl = \"http://[::1]:9901/x\"\n\
             [mirrors.fine]\nurl = \"http://127.0.0.1:8081\"\n"
        ),
        &[
            "mirrors.admin.url: \"http://[::1]:9901/x\" points at the proxy's own listener 127.0.0.1:9901",
            "mirrors.loop.url: \"http://localhost:8080\" points at the proxy's own listener 0.0.0.0:8080",
        ],
    );
}

#[test]
fn tls_errors_name_the_key_and_file() {
    assert_errors(
        &format!("{UPSTREAM}[tls]\ncert = \"certs/cert.pem\"\n"),
        &["tls.key: is required"],
    );
    let e = errors(&format!(
        "{UPSTREAM}[tls]\ncert = \"nope.pem\"\nkey = \"certs/key.pem\"\n"
    ));
    assert!(
        e[0].starts_with("tls.cert: ") && e[0].contains("nope.pem"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{UPSTREAM}[tls]\ncert = \"certs/cert.pem\"\nkey = \"certs/cert.pem\"\n"
    ));
    assert!(
        e[0].starts_with("tls.key: ") && e[0].contains("cert.pem"),
        "{e:?}"
    );
}

#[test]
fn upstream_errors_are_all_reported() {
    assert_errors(
        "[upstreams.a]\nbackends = [\"ftp://x\", { url = \"http://b:1\", weight = 0 }, \"http://b:1\", \"nota url\"]\n\
         balance = \"fastest\"\nconnect_timeout = \"0ms\"\ntimeout = \"x\"\nmax_connections = -1\neject_for = \"0s\"\n\
         [upstreams.a.health_check]\npath = \"healthz\"\ninterval = \"0s\"\ntimeout = \"1\"\nhealthy_threshold = 0\nunhealthy_threshold = -2\n\
         [upstreams.b]\n[[routes]]\nupstream = \"a\"\n",
        &[
            "upstreams.a.backends[0]: \"ftp://x\" is not an http:// or https:// URL",
            "upstreams.a.backends[1].weight: 0 must be at least 1",
            "upstreams.a.backends[2]: \"http://b:1\" is listed more than once",
            "upstreams.a.backends[3]: \"nota url\" must not contain ' '",
            "upstreams.a.balance: \"fastest\" is not one of round_robin, weighted_round_robin, least_connections, random_two_choices, ip_hash",
            "upstreams.a.connect_timeout: \"0ms\" must be greater than zero",
            "upstreams.a.timeout: \"x\" is not a duration",
            "upstreams.a.max_connections: -1 must be at least 0",
            "upstreams.a.eject_for: \"0s\" must be greater than zero",
            "upstreams.a.health_check.path: \"healthz\" is not a path",
            "upstreams.a.health_check.interval: \"0s\" must be greater than zero",
            "upstreams.a.health_check.timeout: \"1\" is not a duration",
            "upstreams.a.health_check.healthy_threshold: 0 must be at least 1",
            "upstreams.a.health_check.unhealthy_threshold: -2 must be at least 1",
            "upstreams.b.backends: at least one backend URL is required",
        ],
    );
}

#[test]
fn no_upstream_and_several_upstreams_without_routes_are_errors() {
    assert_errors("listen = \"127.0.0.1:1\"\n", &["upstreams: no upstream"]);
    assert_errors(
        "[upstreams.a]\nbackends = [\"http://a:1\"]\n[upstreams.b]\nbackends = [\"http://b:1\"]\n",
        &["routes: there are no [[routes]], so everything goes to the only upstream, but there are 2 (a, b)"],
    );
}

#[test]
fn mirror_errors_are_all_reported() {
    assert_errors(
        &format!(
            "{UPSTREAM}[mirror_defaults]\nurl = \"http://x\"\nworkers = 0\n[mirror_defaults.circuit]\nremove_after = \"soon\"\n\
             [mirrors.canary]\nurl = \"notaurl\"\nsample = 1.5\nsample_by = \"hdr:x\"\nrate_limit = -1\nqueue = 0\ntimeout = \"0s\"\n\
             max_body_bytes = -5\nhost = \"a b\"\nheaders = {{ add = {{ \"bad name\" = \"1\", \"X-Ok\" = \"a\\u0001\" }}, remove = [\"also bad\"] }}\n\
             methods = [\"get\"]\n[mirrors.canary.circuit]\nfailures = -3\nretry_after = \"0ms\"\nremove_after = \"x\"\n[mirrors.nourl]\nsample = 0.5\n"
        ),
        &[
            "mirror_defaults.url: \"http://x\": [mirror_defaults] has no url",
            "mirror_defaults.workers: 0 must be at least 1",
            "mirror_defaults.circuit.remove_after: \"soon\" is not a duration",
            "mirrors.canary.url: \"notaurl\" is not an absolute http:// or https:// URL",
            "mirrors.canary.sample: 1.5 is outside 0..=1",
            "mirrors.canary.sample_by: \"hdr:x\" is not header:NAME, cookie:NAME, query:NAME or client_ip",
            "mirrors.canary.rate_limit: -1 must be at least 0",
            "mirrors.canary.queue: 0 must be at least 1",
            "mirrors.canary.timeout: \"0s\" must be greater than zero",
            "mirrors.canary.max_body_bytes: -5 must be at least 0",
            "mirrors.canary.host: \"a b\" is not original, target or a host[:port]",
            "mirrors.canary.headers.add.\"bad name\": \"bad name\" is not a valid header name",
            "mirrors.canary.headers.add.X-Ok: the value has characters a header cannot carry",
            "mirrors.canary.headers.remove[0]: \"also bad\" is not a valid header name",
            "mirrors.canary.methods[0]: \"get\" is not an upper-case HTTP method",
            "mirrors.canary.circuit.failures: -3 must be at least 0",
            "mirrors.canary.circuit.retry_after: \"0ms\" must be greater than zero",
            "mirrors.canary.circuit.remove_after: \"x\" is not a duration",
            "mirrors.nourl.url: is required",
        ],
    );
}

#[test]
fn route_errors_are_all_reported() {
    assert_errors(
        &format!(
            "{UPSTREAM}[upstreams.other]\nbackends = [\"http://127.0.0.1:2\"]\n[mirrors.canary]\nurl = \"http://c:1\"\n\
             [[routes]]\npath = \"/a\"\npath_prefix = \"/b\"\nupstream = \"nope\"\nmirrors = [\"ghost\", \"canary\", \"canary\"]\n\
             [[routes]]\npath_regex = \"(\"\nstrip_prefix = true\nupstream = \"prod\"\n\
             [[routes]]\npath_prefix = \"/r/\"\nredirect = {{ to = \"https://x/\", status = 200 }}\nupstream = \"prod\"\nrewrite = \"/y\"\n\
             [[routes]]\nname = \"route0\"\nhost = \"a:80\"\nrewrite = \"/x\"\nmethods = [\"FETCH ME\"]\nheaders = {{ \"X-A\" = \"a\\u0001\" }}\n\
             [[routes]]\npath_prefix = \"a/\"\nupstream = \"prod\"\nstrip_prefix = true\nrewrite = \"/b/\"\n\
             [[routes]]\npath = \"/r\"\nredirect = {{ status = 301 }}\n"
        ),
        &[
            "routes[0]: path and path_prefix are exclusive: set at most one",
            "routes[0].upstream: \"nope\" is not an [upstreams.NAME] table (there are: other, prod)",
            "routes[0].mirrors[0]: \"ghost\" is not a [mirrors.NAME] table (there are: canary)",
            "routes[0].mirrors[2]: \"canary\" is listed more than once",
            "routes[1].path_regex: \"(\" is not a valid regex",
            "routes[1].strip_prefix: true needs path_prefix",
            "routes[2].redirect: a redirect route is not proxied, so it cannot also set upstream, rewrite",
            "routes[2].redirect.status: 200 is not one of 301, 302, 303, 307, 308",
            "routes[3].host: \"a:80\" is not a host name",
            "routes[3].methods[0]: \"FETCH ME\" is not an upper-case HTTP method",
            "routes[3].headers.X-A: the value has characters a header cannot carry",
            "routes[3].upstream: is required: there are 2 upstreams (other, prod)",
            "routes[3].rewrite: \"/x\" needs path, path_prefix or path_regex",
            "routes[3].name: \"route0\" is the name of an earlier route",
            "routes[4].path_prefix: \"a/\" is not a path",
            "routes[4].rewrite: \"/b/\" and strip_prefix both change the path: use one",
            "routes[5].redirect.to: is required",
        ],
    );
}

#[test]
fn syntax_errors_and_unknown_keys_name_line_and_key() {
    let e = errors(
        "listen = \"127.0.0.1:1\"\n[upstreams.prod]\nbackends = [\"http://a:1\"]\ntimeout = 5s\n",
    );
    assert!(
        e[0].starts_with("test.toml: ") && e[0].contains("line 4"),
        "{e:?}"
    );
    for (text, key) in [
        ("listn = \"x\"\n", "listn"),
        ("[limits]\nidle = \"1s\"\n", "idle"),
        (
            "[upstreams.p]\nbackends = [{ url = \"http://a\", wieght = 2 }]\n",
            "wieght",
        ),
        (
            "[mirrors.m]\nurl = \"http://a\"\n[mirrors.m.circuit]\nfailure = 1\n",
            "failure",
        ),
        (
            "[[routes]]\nredirect = { to = \"/\", code = 301 }\n",
            "code",
        ),
    ] {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(&format!("unknown field `{key}`")), "{e:?}");
        assert!(e[0].contains("line "), "{e:?}");
    }
}

#[test]
fn wrong_types_are_named() {
    let e = errors("[upstreams.p]\nbackends = [3]\n");
    assert!(
        e[0].contains("expected a backend URL or a { url, weight } table"),
        "{e:?}"
    );
    let e = errors("[mirrors.m]\nurl = \"http://a\"\nsample = \"half\"\n");
    assert!(e[0].contains("line 3"), "{e:?}");
}

#[test]
fn names_that_are_not_bare_keys_are_quoted_and_empty_names_refused() {
    assert_errors(
        "[upstreams.\"\"]\nbackends = [\"http://a:1\"]\n[mirrors.\"my.mirror\"]\nurl = \"http://m:1\"\nsample = 2.0\n\
         [[routes]]\nname = \"\"\n",
        &[
            "upstreams.\"\": an upstream name cannot be empty",
            "mirrors.\"my.mirror\".sample: 2 is outside 0..=1",
            "routes[0].name: \"\" is not a route name",
        ],
    );
}

#[test]
fn a_key_that_does_not_fit_the_certificate_names_both_files() {
    let dir = std::env::temp_dir().join(format!("shadowgate-tls-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["b.test".to_owned()]).unwrap();
    std::fs::write(dir.join("a.pem"), a.cert.pem()).unwrap();
    std::fs::write(dir.join("b-key.pem"), b.signing_key.serialize_pem()).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        format!("{UPSTREAM}[tls]\ncert = \"a.pem\"\nkey = \"b-key.pem\"\n"),
    )
    .unwrap();
    let e = shadowgate_proxy::config::load(&dir.join("c.toml")).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, "tls.cert");
    assert!(
        e[0].message.contains("a.pem") && e[0].message.contains("b-key.pem"),
        "{e:?}"
    );
}

#[test]
fn trust_mirror_marks_is_proxy_wide() {
    assert_errors(
        &format!("{UPSTREAM}[mirrors.m]\nurl = \"http://a:1\"\ntrust_mirror_marks = true\n"),
        &["mirrors.m.trust_mirror_marks: true: a proxy-wide switch, set in [mirror_defaults] only"],
    );
    let s = load(&format!(
        "{UPSTREAM}[mirror_defaults]\ntrust_mirror_marks = true\n"
    ))
    .unwrap();
    assert!(s.trust_mirror_marks);
    assert!(!load(UPSTREAM).unwrap().trust_mirror_marks);
}

#[test]
fn compare_errors_are_all_reported() {
    assert_errors(
        &format!(
            "{UPSTREAM}[mirror_defaults.compare]\nsample = -0.5\ncontrol = \"ghost\"\nmax_per_second = 4294967296\n\
             [mirrors.canary]\nurl = \"http://c:1\"\n[mirrors.canary.compare]\nsample = 1.5\n\
             methods = [\"GET\", \"get\", \"NOT A METHOD\"]\nmax_body_bytes = 67108865\ncontrol = \"nope\"\n\
             ignore = [\"/headers/date\", \"body/x\"]\n\
             arrays = [{{ path = \"/body/a\", mode = \"sorted\" }}, {{ path = \"/body/b\", mode = \"keyed\" }}, \
                       {{ path = \"/body/c\", mode = \"set\", key = \"/id\" }}, {{ mode = \"set\" }}, \
                       {{ path = \"/body/d\", mode = \"keyed:/id\" }}, {{ path = \"/body/e\", mode = \"keyed\", key = \"id\" }}]\n\
             numbers = [{{ path = \"/body/price\", abs = -1 }}, {{ path = \"/body/n\" }}, {{ path = \"x\", rel = 0.1 }}]\n\
             endpoints = [\"/api/users/{{id}}\", \"api/users\", \"/a?b\"]\nmax_per_second = -1\n\
             [mirrors.self]\nurl = \"http://s:1\"\ncompare = {{ control = \"self\" }}\n\
             [mirrors.replay]\nurl = \"http://r:1\"\ncompare = {{ control = \"primary\", methods = [\"GET\", \"POST\"] }}\n"
        ),
        &[
            "mirror_defaults.compare.sample: -0.5 is outside 0..=1",
            "mirror_defaults.compare.control: \"ghost\" is not a [mirrors] target (there are: canary, replay, self) or \"primary\"",
            "mirror_defaults.compare.max_per_second: 4294967296 is more than the largest allowed, 4294967295",
            "mirrors.canary.compare.sample: 1.5 is outside 0..=1",
            "mirrors.canary.compare.methods[1]: \"get\" is not an upper-case HTTP method",
            "mirrors.canary.compare.methods[2]: \"NOT A METHOD\" is not an upper-case HTTP method",
            "mirrors.canary.compare.max_body_bytes: 67108865 is more than the largest allowed, 67108864",
            "mirrors.canary.compare.control: \"nope\" is not a [mirrors] target (there are: canary, replay, self) or \"primary\"",
            "mirrors.canary.compare.ignore[1]: \"body/x\" is not a pointer glob (it starts with '/', as /body/**/id does)",
            "mirrors.canary.compare.arrays[0]: \"sorted\" is not an array mode (ordered, set or keyed)",
            "mirrors.canary.compare.arrays[1]: \"keyed\" needs a key (a pointer inside each element, such as \"/id\")",
            "mirrors.canary.compare.arrays[2].key: \"/id\": only a keyed array has a key (this one is \"set\")",
            "mirrors.canary.compare.arrays[3].path: is required",
            "mirrors.canary.compare.arrays[4].mode: \"keyed:/id\" is not an array mode (ordered, set or keyed)",
            "mirrors.canary.compare.arrays[5]: \"id\" is not a key pointer (it starts with '/')",
            "mirrors.canary.compare.numbers[0]: abs = -1 is not a finite number of at least 0",
            "mirrors.canary.compare.numbers[1]: sets neither abs nor rel",
            "mirrors.canary.compare.numbers[2]: \"x\" is not a pointer glob",
            "mirrors.canary.compare.endpoints[1]: \"api/users\" is not a path template",
            "mirrors.canary.compare.endpoints[2]: \"/a?b\" is not a path template",
            "mirrors.canary.compare.max_per_second: -1 must be at least 0",
            "mirrors.self.compare.control: \"self\" is this target itself",
            "mirrors.replay.compare.control: \"primary\" replays only GET and HEAD, but methods is [\"GET\", \"POST\"]",
        ],
    );
}

#[test]
fn unknown_keys_inside_compare_are_named() {
    for (text, key) in [
        ("compare = { sampel = 1.0 }\n", "sampel"),
        ("[mirrors.m.compare]\nignored = []\n", "ignored"),
        (
            "compare = { arrays = [{ path = \"/a\", order = \"set\" }] }\n",
            "order",
        ),
        (
            "compare = { numbers = [{ path = \"/a\", tolerance = 1 }] }\n",
            "tolerance",
        ),
    ] {
        let e = errors(&format!(
            "{UPSTREAM}[mirrors.m]\nurl = \"http://m:1\"\n{text}"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains(&format!("unknown field `{key}`")), "{e:?}");
        assert!(e[0].contains("line "), "{e:?}");
    }
}
